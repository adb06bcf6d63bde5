// A Go client (sarama, Debian's golang-github-shopify-sarama-dev) against Brook's Kafka listener.
// Each subcommand prints what it did, one line per record, for sarama.sh to compare.
//
//	produce BROKER TOPIC COUNT CODEC MODE         acks=all, MODE plain or idempotent; prints
//	                                               "partition offset value"
//	read BROKER TOPIC                              every partition from the oldest record to the
//	                                               high watermark; prints "partition offset key value headers"
//	group BROKER TOPIC GROUP COUNT                 a consumer group member reading COUNT records,
//	                                               marking each; prints "value" and commits on close
//	admin BROKER TOPIC GROUP                       ClusterAdmin on a new TOPIC and on GROUP; prints
//	                                               what each call returned
package main

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/Shopify/sarama"
)

func config() *sarama.Config {
	cfg := sarama.NewConfig()
	cfg.ClientID = "sarama-check"
	cfg.Version = sarama.V2_1_0_0
	cfg.Consumer.Offsets.Initial = sarama.OffsetOldest
	cfg.Metadata.Retry.Backoff = 100 * time.Millisecond
	return cfg
}

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "sarama: "+format+"\n", args...)
	os.Exit(1)
}

func produce(broker, topic string, count int, codec string, idempotent bool) {
	cfg := config()
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Return.Successes = true
	cfg.Producer.Partitioner = sarama.NewHashPartitioner
	switch codec {
	case "none":
	case "gzip":
		cfg.Producer.Compression = sarama.CompressionGZIP
	case "snappy":
		cfg.Producer.Compression = sarama.CompressionSnappy
	case "lz4":
		cfg.Producer.Compression = sarama.CompressionLZ4
	case "zstd":
		cfg.Producer.Compression = sarama.CompressionZSTD
	default:
		fail("unknown codec %s", codec)
	}
	if idempotent {
		// sarama's requirements for an idempotent producer.
		cfg.Producer.Idempotent = true
		cfg.Net.MaxOpenRequests = 1
		cfg.Producer.Retry.Max = 5
	}
	producer, err := sarama.NewSyncProducer([]string{broker}, cfg)
	if err != nil {
		fail("producer: %v", err)
	}
	// Values name the producer: "gzip-7", "idempotent-7".
	label := codec
	if idempotent {
		label = "idempotent"
	}
	messages := make([]*sarama.ProducerMessage, 0, count)
	for i := 0; i < count; i++ {
		messages = append(messages, &sarama.ProducerMessage{
			Topic:   topic,
			Key:     sarama.StringEncoder("k" + strconv.Itoa(i%5)),
			Value:   sarama.StringEncoder(label + "-" + strconv.Itoa(i)),
			Headers: []sarama.RecordHeader{{Key: []byte("producer"), Value: []byte(label)}},
		})
	}
	if err := producer.SendMessages(messages); err != nil {
		fail("send: %v", err)
	}
	if err := producer.Close(); err != nil {
		fail("close: %v", err)
	}
	for _, m := range messages {
		fmt.Printf("%d %d %s\n", m.Partition, m.Offset, m.Value)
	}
}

func read(broker, topic string) {
	client, err := sarama.NewClient([]string{broker}, config())
	if err != nil {
		fail("client: %v", err)
	}
	defer client.Close()
	consumer, err := sarama.NewConsumerFromClient(client)
	if err != nil {
		fail("consumer: %v", err)
	}
	partitions, err := client.Partitions(topic)
	if err != nil {
		fail("partitions: %v", err)
	}
	for _, p := range partitions {
		end, err := client.GetOffset(topic, p, sarama.OffsetNewest)
		if err != nil {
			fail("high watermark of %s-%d: %v", topic, p, err)
		}
		if end == 0 {
			continue
		}
		pc, err := consumer.ConsumePartition(topic, p, sarama.OffsetOldest)
		if err != nil {
			fail("consume %s-%d: %v", topic, p, err)
		}
		for m := range pc.Messages() {
			headers := []string{}
			for _, h := range m.Headers {
				headers = append(headers, string(h.Key)+"="+string(h.Value))
			}
			fmt.Printf("%d %d %s %s %s\n", m.Partition, m.Offset, m.Key, m.Value, strings.Join(headers, ","))
			if m.Offset+1 >= end {
				break
			}
		}
		pc.Close()
	}
}

type member struct {
	want   int
	values []string
	done   chan struct{}
}

func (m *member) Setup(sarama.ConsumerGroupSession) error   { return nil }
func (m *member) Cleanup(sarama.ConsumerGroupSession) error { return nil }
func (m *member) ConsumeClaim(session sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	for message := range claim.Messages() {
		if len(m.values) == m.want {
			return nil
		}
		m.values = append(m.values, string(message.Value))
		session.MarkMessage(message, "")
		if len(m.values) == m.want {
			close(m.done)
			return nil
		}
	}
	return nil
}

func group(broker, topic, name string, count int) {
	cfg := config()
	group, err := sarama.NewConsumerGroup([]string{broker}, name, cfg)
	if err != nil {
		fail("group: %v", err)
	}
	m := &member{want: count, done: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	errs := make(chan error, 1)
	go func() {
		for ctx.Err() == nil {
			if err := group.Consume(ctx, []string{topic}, m); err != nil && ctx.Err() == nil {
				errs <- err
				return
			}
		}
	}()
	select {
	case <-m.done:
	case err := <-errs:
		fail("consume: %v", err)
	case <-time.After(60 * time.Second):
		fail("timed out with %d of %d records", len(m.values), count)
	}
	cancel()
	// Closing commits what was marked (OffsetCommit), then leaves the group.
	if err := group.Close(); err != nil {
		fail("close: %v", err)
	}
	sort.Strings(m.values)
	for _, v := range m.values {
		fmt.Println(v)
	}
}

func admin(broker, topic, groupName string) {
	cfg := config()
	cfg.Producer.Return.Successes = true
	cfg.Producer.Partitioner = sarama.NewManualPartitioner
	client, err := sarama.NewClient([]string{broker}, cfg)
	if err != nil {
		fail("client: %v", err)
	}
	defer client.Close()
	a, err := sarama.NewClusterAdmin([]string{broker}, cfg)
	if err != nil {
		fail("admin: %v", err)
	}
	defer a.Close()
	check := func(call string, err error) {
		if err != nil {
			fail("%s: %v", call, err)
		}
	}
	retention := "3600000"
	check("CreateTopic", a.CreateTopic(topic, &sarama.TopicDetail{
		NumPartitions: 2, ReplicationFactor: 1, ConfigEntries: map[string]*string{"retention.ms": &retention}}, false))
	described, err := a.DescribeTopics([]string{topic})
	check("DescribeTopics", err)
	fmt.Printf("DescribeTopics %s: %d partitions\n", topic, len(described[0].Partitions))
	check("CreatePartitions", a.CreatePartitions(topic, 3, nil, false))
	longer := "7200000"
	check("AlterConfig", a.AlterConfig(sarama.TopicResource, topic, map[string]*string{"retention.ms": &longer}, false))
	entries, err := a.DescribeConfig(sarama.ConfigResource{Type: sarama.TopicResource, Name: topic})
	check("DescribeConfig", err)
	for _, entry := range entries {
		if entry.Name == "retention.ms" {
			fmt.Printf("DescribeConfig %s: retention.ms=%s\n", topic, entry.Value)
		}
	}
	// Five records in partition 0, then DeleteRecords below offset 3.
	producer, err := sarama.NewSyncProducerFromClient(client)
	check("producer", err)
	for i := 0; i < 5; i++ {
		_, _, err := producer.SendMessage(&sarama.ProducerMessage{Topic: topic, Partition: 0, Value: sarama.StringEncoder(strconv.Itoa(i))})
		check("SendMessage", err)
	}
	check("DeleteRecords", a.DeleteRecords(topic, map[int32]int64{0: 3}))
	oldest, err := client.GetOffset(topic, 0, sarama.OffsetOldest)
	check("GetOffset", err)
	fmt.Printf("DeleteRecords %s-0 below 3: log start %d\n", topic, oldest)
	groups, err := a.ListConsumerGroups()
	check("ListConsumerGroups", err)
	fmt.Printf("ListConsumerGroups: %s=%s\n", groupName, groups[groupName])
	descriptions, err := a.DescribeConsumerGroups([]string{groupName})
	check("DescribeConsumerGroups", err)
	fmt.Printf("DescribeConsumerGroups %s: %s, %s, %d members\n", groupName, descriptions[0].State, descriptions[0].ProtocolType, len(descriptions[0].Members))
	check("DeleteTopic", a.DeleteTopic(topic))
	fmt.Printf("DeleteTopic %s\n", topic)
}

func main() {
	if len(os.Args) < 4 {
		fail("usage: produce|read|group BROKER TOPIC ...")
	}
	broker, topic := os.Args[2], os.Args[3]
	switch os.Args[1] {
	case "produce":
		count, _ := strconv.Atoi(os.Args[4])
		produce(broker, topic, count, os.Args[5], os.Args[6] == "idempotent")
	case "read":
		read(broker, topic)
	case "group":
		count, _ := strconv.Atoi(os.Args[5])
		group(broker, topic, os.Args[4], count)
	case "admin":
		admin(broker, topic, os.Args[4])
	default:
		fail("unknown command %s", os.Args[1])
	}
}
