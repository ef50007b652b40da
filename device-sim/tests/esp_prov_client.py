"""Espressif's own provisioning client (esp_prov, as shipped in esp-rainmaker-cli) against a
device: proto-ver, session, scan, Wi-Fi config, apply, status. Used by device-sim's tests as a
subprocess from the venv `cargo xtask setup` makes.

    python esp_prov_client.py [--transport ble] --host 127.0.0.1:PORT|DEVICE_NAME --sec 2 --pop abcd1234 [--username wifiprov] \
        --ssid cairn-home --passphrase 'correct horse'

Prints `RESULT {json}` as its last line; exits 1 on any failure.
"""
import argparse
import json
import sys
import time

from rmaker_tools.rmaker_prov.prov import prov_util as esp_prov


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--transport", default="softap", choices=["softap", "ble"])
    p.add_argument("--host", required=True, help="host:port (softap) or device name (ble)")
    p.add_argument("--sec", type=int, required=True)
    p.add_argument("--pop", default="")
    p.add_argument("--username", default="wifiprov")
    p.add_argument("--ssid", required=True)
    p.add_argument("--passphrase", required=True)
    a = p.parse_args()

    tp = esp_prov.get_transport(a.transport, a.host)
    if tp is None:
        raise SystemExit("no transport")
    if not esp_prov.version_match(tp, "v1.1"):
        raise SystemExit("proto-ver mismatch")
    caps = json.loads(esp_prov.get_version(tp))["prov"]["cap"]
    patch = esp_prov.get_sec_patch_ver(tp)
    sec = esp_prov.get_security(a.sec, patch, a.username, a.pop, a.pop)
    if not esp_prov.establish_session(tp, sec):
        raise SystemExit("session failed")
    aps = esp_prov.scan_wifi_APs(a.transport, tp, sec) if "wifi_scan" in caps else []
    if aps is None:
        raise SystemExit("scan failed")
    if not esp_prov.send_wifi_config(tp, sec, a.ssid, a.passphrase):
        raise SystemExit("set config failed")
    if not esp_prov.apply_wifi_config(tp, sec):
        raise SystemExit("apply failed")
    state = "connecting"
    for _ in range(10):
        state = esp_prov.get_wifi_config(tp, sec)
        if state != "connecting":
            break
        time.sleep(0.05)
    print("RESULT " + json.dumps({"patch": patch, "aps": [ap["ssid"] for ap in aps], "state": state}))
    sys.exit(0 if state == "connected" else 1)


if __name__ == "__main__":
    main()
