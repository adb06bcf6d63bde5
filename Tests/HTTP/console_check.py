"""The web console in headless Chromium (Selenium over Debian's chromedriver): the topic page's
SQL filter shows the expected rows, a message produced through the form reaches `brook consume`,
a real group's lag shows on its page, and text from the log is shown, never run, as HTML.
Screenshots go to --screenshots.

python console_check.py --brook PATH --line HOST:PORT --http HOST:PORT --screenshots DIR
"""
import argparse
import os
import subprocess
import sys

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

parser = argparse.ArgumentParser()
parser.add_argument("--brook", required=True)
parser.add_argument("--line", required=True)
parser.add_argument("--http", required=True)
parser.add_argument("--screenshots", required=True)
args = parser.parse_args()
os.makedirs(args.screenshots, exist_ok=True)
base = f"http://{args.http}"


def brook(*arguments, stdin=None):
    result = subprocess.run([args.brook, *arguments, "--server", args.line], input=stdin, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"FAIL: brook {' '.join(arguments)}: {result.stderr}")
    return result.stdout


def expect(what, expected, actual):
    if expected != actual:
        sys.exit(f"FAIL: {what}: expected {expected!r}, got {actual!r}")
    print(f"ok: {what}")


# Records with JSON values; the filter keeps u1's orders over 5 (offsets 1 and 3).
brook("topics", "create", "shop")
brook("produce", "shop", "--parse-key", stdin="".join(
    f"{key}\t{value}\n" for key, value in [
        ("u1", '{"total": 3, "item": "tea"}'), ("u1", '{"total": 7, "item": "cake"}'),
        ("u2", '{"total": 9, "item": "jam"}'), ("u1", '{"total": 12, "item": "pie"}'),
    ]))

options = webdriver.ChromeOptions()
for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1000"):
    options.add_argument(flag)
chromium = next((path for path in ("/usr/bin/chromium", "/usr/bin/chromium-browser") if os.path.exists(path)), None)
if chromium:
    options.binary_location = chromium
driver = webdriver.Chrome(service=Service(executable_path="/usr/bin/chromedriver"), options=options)
wait = WebDriverWait(driver, 20)
try:
    driver.get(base + "/")
    expect("overview lists the topic", True, "shop" in [a.text for a in driver.find_elements(By.CSS_SELECTOR, "#topics a")])
    driver.save_screenshot(os.path.join(args.screenshots, "1-overview.png"))

    # The SQL filter.
    driver.find_element(By.CSS_SELECTOR, "#topics a[href='/topics/shop']").click()
    wait.until(expected_conditions.presence_of_element_located((By.ID, "filter")))
    expect("all four messages before filtering", ["0", "1", "2", "3"],
           [td.text for td in driver.find_elements(By.CSS_SELECTOR, "#messages td.offset")])
    box = driver.find_element(By.ID, "filter")
    box.send_keys("key = 'u1' AND json_extract(value, '$.total') > 5")
    box.submit()
    wait.until(lambda d: "where=" in d.current_url)
    expect("the filter's rows", ["1", "3"], [td.text for td in driver.find_elements(By.CSS_SELECTOR, "#messages td.offset")])
    expect("the filter's keys", ["u1", "u1"], [td.text for td in driver.find_elements(By.CSS_SELECTOR, "#messages td.key")])
    expect("JSON pretty-printed, keys in order", '{\n  "total": 7,\n  "item": "cake"\n}',
           driver.find_elements(By.CSS_SELECTOR, "#messages pre.value")[0].text)
    driver.save_screenshot(os.path.join(args.screenshots, "2-topic-filtered.png"))

    # A bad filter says what SQLite said, on the page.
    driver.get(base + "/topics/shop?where=nonsense%20%3D")
    expect("a bad filter shows its error", True, "syntax error" in driver.find_element(By.ID, "query-error").text)

    # Produce through the form, with a header and a key that looks like HTML.
    driver.get(base + "/topics/shop")
    driver.find_element(By.ID, "produce-key").send_keys("<b>form</b>")
    driver.find_element(By.ID, "produce-headers").send_keys("src: console")
    driver.find_element(By.ID, "produce-value").send_keys('{"from": "console", "note": "<script>window.ran=1</script>"}')
    driver.find_element(By.ID, "produce-button").click()
    wait.until(lambda d: "produced=" in d.current_url)
    expect("the redirect names the new record", "produced=0:4", driver.current_url.split("?", 1)[1])
    consumed = brook("consume", "shop", "--from-beginning", "--max-messages", "5", "--timeout-ms", "3000", "--format", "%k|%h|%v\\n")
    expect("brook consume sees the form's record", '<b>form</b>|src=console|{"from": "console", "note": "<script>window.ran=1</script>"}',
           consumed.strip().splitlines()[-1])
    keys = driver.find_elements(By.CSS_SELECTOR, "#messages td.key")
    expect("an HTML-looking key is shown as text", "<b>form</b>", keys[-1].text)
    expect("no element came from the key", [], driver.find_elements(By.CSS_SELECTOR, "#messages td.key b"))
    expect("a script in a value never ran", None, driver.execute_script("return window.ran"))
    expect("headers shown", "src: console", driver.find_elements(By.CSS_SELECTOR, "#messages td.headers")[-1].text)
    driver.save_screenshot(os.path.join(args.screenshots, "3-produced.png"))

    # A real group: a consumer read 2 of the 5 records and committed; lag 3.
    brook("consume", "shop", "--group", "readers", "--from-beginning", "--max-messages", "2", "--commit", "sync", "--timeout-ms", "3000")
    driver.get(base + "/groups")
    driver.find_element(By.CSS_SELECTOR, "#groups a[href='/groups/readers']").click()
    wait.until(expected_conditions.presence_of_element_located((By.ID, "total-lag")))
    expect("the group's lag", "3", driver.find_element(By.ID, "total-lag").text)
    expect("lag per partition", ["3"], [td.text for td in driver.find_elements(By.CSS_SELECTOR, "#offsets td.lag")])
    driver.save_screenshot(os.path.join(args.screenshots, "4-group.png"))

    # Reset the (now empty) group to the end: lag 0.
    target = driver.find_element(By.CSS_SELECTOR, "#reset input[name=target]")
    target.clear()
    target.send_keys("latest")
    target.submit()
    wait.until(lambda d: d.find_element(By.ID, "total-lag").text == "0")
    expect("lag after resetting to latest", "0", driver.find_element(By.ID, "total-lag").text)

    # Create and delete a topic.
    driver.get(base + "/")
    driver.find_element(By.CSS_SELECTOR, "#create-topic input[name=name]").send_keys("made-here")
    driver.find_element(By.CSS_SELECTOR, "#create-topic input[name=partitions]").clear()
    driver.find_element(By.CSS_SELECTOR, "#create-topic input[name=partitions]").send_keys("3")
    driver.find_element(By.CSS_SELECTOR, "#create-topic button").click()
    wait.until(lambda d: d.current_url.endswith("/topics/made-here"))
    expect("a created topic's partitions", 3, len(driver.find_elements(By.CSS_SELECTOR, "#partitions tbody tr")))
    expect("brook topics list sees it", True, "made-here" in brook("topics", "list"))
    driver.execute_script("window.confirm = function () { return true; }")
    driver.find_element(By.CSS_SELECTOR, "#delete-topic button").click()
    wait.until(lambda d: d.current_url == base + "/")
    expect("brook topics list no longer has it", False, "made-here" in brook("topics", "list"))
finally:
    driver.quit()
print("console checks passed")
