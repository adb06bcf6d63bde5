#ifndef BROOK_CCRC32C_H
#define BROOK_CCRC32C_H

#include <stddef.h>
#include <stdint.h>

/// Whether this CPU has a CRC-32C instruction Brook uses (SSE 4.2 `crc32` on x86-64), checked once
/// with cpuid at run time, so one binary runs on every x86-64 and uses the instruction where it
/// exists.
int brook_crc32c_hardware_available(void);

/// CRC-32C of `length` bytes, continuing from `crc` (a previous result, or 0 to start), with the
/// CPU's instruction. Call only when `brook_crc32c_hardware_available()` returned 1.
uint32_t brook_crc32c_hardware(uint32_t crc, const void *bytes, size_t length);

#endif
