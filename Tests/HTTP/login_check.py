"""The console and /metrics of a server run with --auth over HTTPS, in headless Chromium (Selenium
over Debian's chromedriver): a wrong password is refused; dave, allowed READ and WRITE on topic a
only, sees a and not b, browses, filters with SQL and produces to a, is refused on b with the
grant that would allow it, and his filter cannot read b; the super user alice sees everything; /metrics answers 401 without HTTP Basic
credentials, 403 for dave, and exact counts for alice. Screenshots of the login page, a refusal
and a confined filter go to --screenshots.

The server's file holds alice (super, alice-secret) and dave (dave-secret) with READ and WRITE on
topic a.

python login_check.py --brook PATH --line HOST:PORT --https HOST:PORT --ca PEM --screenshots DIR
"""
import argparse
import base64
import os
import ssl
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request

from prometheus_client.parser import text_string_to_metric_families
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

parser = argparse.ArgumentParser()
parser.add_argument("--brook", required=True)
parser.add_argument("--line", required=True)
parser.add_argument("--https", required=True)
parser.add_argument("--ca", required=True)
parser.add_argument("--screenshots", required=True)
args = parser.parse_args()
os.makedirs(args.screenshots, exist_ok=True)
base = f"https://{args.https}"


def brook(*arguments, stdin=None):
    """`brook ARGS` as alice, over the line protocol's TLS."""
    result = subprocess.run(
        [args.brook, *arguments, "--server", args.line, "--user", "alice", "--tls-ca", args.ca], input=stdin,
        capture_output=True, text=True, env={**os.environ, "BROOK_PASSWORD": "alice-secret"})
    if result.returncode != 0:
        sys.exit(f"FAIL: brook {' '.join(arguments)}: {result.stderr}")
    return result.stdout


def expect(what, expected, actual):
    if expected != actual:
        sys.exit(f"FAIL: {what}: expected {expected!r}, got {actual!r}")
    print(f"ok: {what}")


def get(path, user=None, password=None):
    """Status, headers and body of a GET over HTTPS, the server's certificate verified."""
    request = urllib.request.Request(base + path)
    if user is not None:
        request.add_header("Authorization", "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode())
    context = ssl.create_default_context(cafile=args.ca)
    try:
        with urllib.request.urlopen(request, context=context) as response:
            return response.status, response.headers, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read().decode()


brook("topics", "create", "a")
brook("topics", "create", "b")
brook("produce", "a", stdin="first in a\n")
brook("produce", "b", stdin="secret in b\n")

options = webdriver.ChromeOptions()
for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1000"):
    options.add_argument(flag)
# The certificate is the test's own, self-signed.
options.accept_insecure_certs = True
chromium = next((path for path in ("/usr/bin/chromium", "/usr/bin/chromium-browser") if os.path.exists(path)), None)
if chromium:
    options.binary_location = chromium
driver = webdriver.Chrome(service=Service(executable_path="/usr/bin/chromedriver"), options=options)
wait = WebDriverWait(driver, 20)


def log_in(user, password):
    driver.find_element(By.ID, "login-user").clear()
    driver.find_element(By.ID, "login-user").send_keys(user)
    driver.find_element(By.ID, "login-password").send_keys(password)
    driver.find_element(By.ID, "login-button").click()


try:
    # Every page sends a browser without a session to the login.
    driver.get(base + "/topics/a")
    wait.until(lambda d: "/login" in d.current_url)
    expect("a page without a session goes to the login", base + "/login?next=%2Ftopics%2Fa", driver.current_url)
    driver.save_screenshot(os.path.join(args.screenshots, "5-login.png"))

    log_in("dave", "wrong-secret")
    wait.until(lambda d: d.find_elements(By.ID, "login-failed"))
    expect("a wrong password is refused", "Unknown user or wrong password.", driver.find_element(By.ID, "login-failed").text)
    expect("no session after a wrong password", None, driver.get_cookie("brook_session"))

    log_in("dave", "dave-secret")
    wait.until(lambda d: d.current_url == base + "/topics/a")
    expect("the login goes back to the page asked for", base + "/topics/a", driver.current_url)
    cookie = driver.get_cookie("brook_session")
    expect("the session cookie is HttpOnly, Secure and SameSite=Strict", (True, True, "Strict"),
           (cookie["httpOnly"], cookie["secure"], cookie["sameSite"]))
    expect("dave browses a", ["first in a"], [e.text for e in driver.find_elements(By.CSS_SELECTOR, "#messages pre.value")])

    driver.find_element(By.ID, "produce-value").send_keys("from dave")
    driver.find_element(By.ID, "produce-button").click()
    wait.until(lambda d: "produced=" in d.current_url)
    expect("dave produces to a through the form", "produced=0:1", driver.current_url.split("?", 1)[1])
    consumed = brook("consume", "a", "--from-beginning", "--max-messages", "2", "--timeout-ms", "3000")
    expect("brook consume sees dave's record", ["first in a", "from dave"], consumed.strip().splitlines())

    driver.get(base + "/")
    expect("the page names the user", "dave", driver.find_element(By.ID, "user").text)
    expect("dave's overview lists a, not b", ["a"], [e.text for e in driver.find_elements(By.CSS_SELECTOR, "#topics a")])
    expect("dave is not offered to create topics", [], driver.find_elements(By.ID, "create-topic"))

    driver.get(base + "/topics/b")
    refusal = driver.find_element(By.ID, "error").text
    expect("dave is refused topic b, with the grant that would allow it", True,
           "user 'dave' may not DESCRIBE topic 'b'" in refusal
           and "brook acls add --allow User:dave --operation describe --topic b" in refusal)
    expect("nothing of b shows", False, "secret in b" in driver.page_source)
    driver.save_screenshot(os.path.join(args.screenshots, "6-refused.png"))

    driver.get(base + "/topics/a")
    box = driver.find_element(By.ID, "filter")
    box.send_keys("value LIKE '%dave'")
    box.submit()
    wait.until(lambda d: "where=" in d.current_url)
    expect("dave's SQL filter over a", ["from dave"], [e.text for e in driver.find_elements(By.CSS_SELECTOR, "#messages pre.value")])
    driver.get(base + "/topics/a?where=" + urllib.parse.quote('key IN (SELECT key FROM "b")'))
    expect("dave's filter may not read topic b", True,
           "may read only topic 'a', and it reads 'b'" in driver.find_element(By.ID, "query-error").text)
    driver.save_screenshot(os.path.join(args.screenshots, "7-filter-confined.png"))
    expect("nothing of b shows", False, "secret in b" in driver.page_source)

    driver.find_element(By.CSS_SELECTOR, "#logout button").click()
    wait.until(lambda d: "/login" in d.current_url)
    driver.get(base + "/")
    wait.until(lambda d: "/login" in d.current_url)
    expect("logged out", True, "/login" in driver.current_url)

    log_in("alice", "alice-secret")
    wait.until(lambda d: d.current_url == base + "/")
    expect("the super user sees every topic", ["a", "b"], [e.text for e in driver.find_elements(By.CSS_SELECTOR, "#topics a")])
    driver.get(base + "/topics/b?where=" + urllib.parse.quote('key IS NULL AND (SELECT count(*) FROM "a") = 2'))
    expect("the super user's filter may read other topics", ["secret in b"],
           [e.text for e in driver.find_elements(By.CSS_SELECTOR, "#messages pre.value")])
finally:
    driver.quit()

# /metrics: HTTP Basic, as Prometheus' basic_auth sends it.
status, headers, _ = get("/metrics")
expect("/metrics without credentials", (401, 'Basic realm="brook", charset="UTF-8"'), (status, headers.get("WWW-Authenticate")))
expect("/metrics with a wrong password", 401, get("/metrics", "alice", "wrong-secret")[0])
status, _, body = get("/metrics", "dave", "dave-secret")
expect("/metrics for dave, who may not DESCRIBE the cluster", (403, True), (status, "may not DESCRIBE the cluster" in body))
status, _, body = get("/metrics", "alice", "alice-secret")
expect("/metrics for alice", 200, status)
found = {}
for family in text_string_to_metric_families(body):
    for sample in family.samples:
        found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
expect("brook_produced_records_total{topic=a}", 2.0, found.get(("brook_produced_records_total", (("topic", "a"),))))
expect("brook_produced_records_total{topic=b}", 1.0, found.get(("brook_produced_records_total", (("topic", "b"),))))
expect("/readyz needs no credentials", 200, get("/readyz")[0])
print("login checks passed")
