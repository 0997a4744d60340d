#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Drives the tape explorer in headless Chromium, as a student would.

    explorer_browser.py EDGE_DETECTION_BINARY WORK_DIR [--screenshot FILE]

Runs the seed experiment's first SGD step with --html (the page) and --trace (what the C++
backward computed, written by another code path), loads the page, steps through the forward
entries with the next button and through backward with the arrow key, and checks:
  - the position line and the highlighted table row and graph node follow each step;
  - at the corr2d entry's backward, the gradients shown for the kernel (weight) and the bias
    equal the trace's, to the 4 decimals the page prints;
  - the browser logged no JavaScript error or console error.
Exits 77 (ctest's "skipped") when Chromium, its driver or python3-selenium is missing.
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys

SKIP = 77


def skip(why):
    print(f"SKIPPED: {why}")
    sys.exit(SKIP)


def numbers(text):
    """The numbers of a tensor as tapegrad prints it (tensor([[ 0.1234, -5.0000e-01]]))."""
    body = text[text.index("(") + 1:]
    body = re.sub(r",\s*(requires_grad|grad_fn|dtype)=.*$", "", body, flags=re.S)
    return [float(x) for x in re.findall(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:e[-+]?\d+)?", body)]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("binary")
    parser.add_argument("workdir")
    parser.add_argument("--screenshot")
    args = parser.parse_args()

    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
        from selenium.webdriver.common.by import By
        from selenium.webdriver.common.keys import Keys
    except ImportError:
        skip("python3-selenium is not installed (apt-get install python3-selenium)")
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver_path = shutil.which("chromedriver")
    if not chromium or not driver_path:
        skip("Chromium or its driver is not installed (apt-get install chromium chromium-driver)")

    os.makedirs(args.workdir, exist_ok=True)
    page = os.path.join(args.workdir, "edge_step.html")
    trace_path = os.path.join(args.workdir, "edge_trace.json")
    subprocess.run([args.binary, "--steps", "1", "--html", page, "--trace", trace_path], check=True,
                   stdout=subprocess.DEVNULL)
    size = os.path.getsize(page)
    assert size <= 5_000_000, f"the page takes {size} bytes, more than 5 MB"
    with open(trace_path) as f:
        trace = json.load(f)["steps"]
    corr2d = next(s for s in trace if s["op"] == "corr2d")
    add = next(s for s in trace if s["op"] == "add")
    want = {
        "weight": next(i for i in corr2d["inputs"] if i["source"] == "weight")["grad"]["values"],
        "bias": next(i for i in add["inputs"] if i["source"] == "bias")["grad"]["values"],
    }

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--window-size=1400,900", "--allow-file-access-from-files"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    try:
        driver.get("file://" + os.path.abspath(page))
        assert "edge_detection" in driver.title, driver.title
        position = driver.find_element(By.ID, "position")
        assert position.get_attribute("data-kind") == "start", position.text

        entries = len(driver.find_elements(By.CSS_SELECTOR, "#table tr")) - 1
        assert entries == 5, f"expected the 5 entries of the seed's step, the table has {entries}"
        assert driver.find_elements(By.CSS_SELECTOR, "#graph svg g#e0"), "the graph has no node for entry #0"

        # Forward, with the button: entry by entry, in tape order.
        ops = []
        for i in range(entries):
            driver.find_element(By.ID, "next").click()
            assert position.get_attribute("data-kind") == "forward", position.text
            assert position.get_attribute("data-entry") == str(i), position.text
            row = driver.find_element(By.ID, f"row{i}")
            assert "cur" in row.get_attribute("class"), f"row {i} is not highlighted"
            node = driver.find_element(By.CSS_SELECTOR, f"#graph g#e{i}")
            assert "cur" in node.get_attribute("class"), f"graph node e{i} is not highlighted"
            ops.append(driver.find_element(By.CSS_SELECTOR, "#details h2").text.split()[-1])
            assert driver.find_elements(By.CSS_SELECTOR, "#details .math"), "no backward math shown"
        assert ops == ["corr2d", "add", "sub", "square", "sum"], ops

        # Backward, with the arrow key: from the last entry to the first.
        body = driver.find_element(By.TAG_NAME, "body")
        shown = {}
        seen = []
        for _ in range(entries):
            body.send_keys(Keys.ARROW_RIGHT)
            assert position.get_attribute("data-kind") == "backward", position.text
            seen.append(int(position.get_attribute("data-entry")))
            for send in driver.find_elements(By.CSS_SELECTOR, "#details .send"):
                target = send.get_attribute("data-target")
                pre = send.find_elements(By.CSS_SELECTOR, "pre.tensor")
                if target in want and pre:
                    shown[target] = numbers(pre[0].text)
        assert seen == [4, 3, 2, 1, 0], seen
        for name, values in want.items():
            assert name in shown, f"the page never showed the gradient sent to {name}"
            got = shown[name]
            assert len(got) == len(values), f"{name}: the page shows {got}, the C++ run wrote {values}"
            for g, w in zip(got, values):
                assert abs(g - w) <= 5e-5 * max(1.0, abs(w)), f"{name}: the page shows {got}, the C++ run wrote {values}"
            print(f"{name}.grad: page {got}, C++ {[round(v, 6) for v in values]}")

        # Back one step with the left arrow, and home.
        body.send_keys(Keys.ARROW_LEFT)
        assert position.get_attribute("data-entry") == "1", position.text
        body.send_keys(Keys.HOME)
        assert position.get_attribute("data-kind") == "start", position.text

        if args.screenshot:
            body.send_keys(Keys.END)
            driver.save_screenshot(args.screenshot)

        errors = [e for e in driver.get_log("browser") if e["level"] in ("SEVERE", "WARNING")]
        assert not errors, f"the browser logged errors: {errors}"
    finally:
        driver.quit()
    print("tape explorer: forward and backward stepped in Chromium; gradients match the C++ run")


if __name__ == "__main__":
    main()
