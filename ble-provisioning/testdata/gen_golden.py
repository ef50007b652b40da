"""Golden vectors for ESP protocomm security 1 and 2, produced by Espressif's reference client.

Run with the venv that `cargo xtask setup` makes (esp-rainmaker-cli pinned there):

    ~/.cache/cairn/venv/bin/python ble-provisioning/testdata/gen_golden.py > ble-provisioning/testdata/golden.json

The client side is Espressif's own code (`rmaker_tools.common.security.Security1/Security2`,
`srp6a.Srp6a`, `prov.config_set_config_request`), with its randomness fixed by patching the
functions it draws from. The device side (which Espressif implements in C inside ESP-IDF) is
computed here with the same `srp6a.py` helpers and `cryptography`. Edge cases are found by a
deterministic search: a salt, A, B, premaster secret S or H(I:p) whose big-endian form starts
with a zero byte (ESP hashes those as minimal integers, dropping the zero).
"""
import hashlib
import json
import os
import sys

from rmaker_tools.common import security, prov
from rmaker_tools.common.security import srp6a
from rmaker_tools.common.utils.convenience import bytes_to_long, long_to_bytes

import proto  # noqa: E402  (made importable by rmaker_tools.common.security)
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

N, G = srp6a.get_ng(srp6a.NG_3072)
H = hashlib.sha512
K_MUL = srp6a.H(H, N, G, width=len(long_to_bytes(N)))
SSID, PASSPHRASE = "cairn-home", "correct horse"


def det(label, i, n):
    """Deterministic pseudo-random bytes."""
    out = b""
    c = 0
    while len(out) < n:
        out += hashlib.sha256(f"{label}/{i}/{c}".encode()).digest()
        c += 1
    return out[:n]


def raw_pub(priv):
    return priv.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def sec1_vector(name, pop, seed):
    client_secret = det("sec1-client", seed, 32)
    device_secret = det("sec1-device", seed, 32)
    device_random = det("sec1-random", seed, 16)
    client_priv = X25519PrivateKey.from_private_bytes(client_secret)
    device_priv = X25519PrivateKey.from_private_bytes(device_secret)
    X25519PrivateKey.generate = staticmethod(lambda: client_priv)

    sec = security.Security1(pop, False)
    req0 = sec.security_session(None).encode("latin-1")

    resp = proto.session_pb2.SessionData()
    resp.sec_ver = proto.session_pb2.SecScheme1
    resp.sec1.msg = proto.sec1_pb2.Session_Response0
    resp.sec1.sr0.device_pubkey = raw_pub(device_priv)
    resp.sec1.sr0.device_random = device_random
    resp0 = resp.SerializeToString()
    req1 = sec.security_session(resp0.decode("latin-1")).encode("latin-1")

    shared = device_priv.exchange(X25519PrivateKey.from_private_bytes(client_secret).public_key())
    if pop:
        digest = hashlib.sha256(pop.encode("latin-1")).digest()
        shared = bytes(a ^ b for a, b in zip(shared, digest))
    dev = Cipher(algorithms.AES(shared), modes.CTR(device_random)).encryptor()
    dev.update(raw_pub(device_priv))  # the client's verify data, already checked by the device
    resp = proto.session_pb2.SessionData()
    resp.sec_ver = proto.session_pb2.SecScheme1
    resp.sec1.msg = proto.sec1_pb2.Session_Response1
    resp.sec1.sr1.device_verify_data = dev.update(raw_pub(client_priv))
    resp1 = resp.SerializeToString()
    assert sec.security_session(resp1.decode("latin-1")) is None

    request = prov.config_set_config_request(sec, SSID, PASSPHRASE).encode("latin-1")
    request_plain = dev.update(request)
    answer_plain = answer_set_config()
    answer = dev.update(answer_plain)
    assert prov.config_set_config_response(sec, answer.decode("latin-1")) == 0
    return {
        "name": name, "security": 1, "pop": pop,
        "client_secret": client_secret.hex(), "device_secret": device_secret.hex(),
        "device_random": device_random.hex(),
        "request0": req0.hex(), "response0": resp0.hex(),
        "request1": req1.hex(), "response1": resp1.hex(),
        "request_plain": request_plain.hex(), "request": request.hex(),
        "answer_plain": answer_plain.hex(), "answer": answer.hex(),
    }


def answer_set_config():
    msg = proto.wifi_config_pb2.WiFiConfigPayload()
    msg.msg = proto.wifi_config_pb2.TypeRespSetConfig
    msg.resp_set_config.status = 0
    return msg.SerializeToString()


def verifier_for(salt, username, password):
    # As the client derives x (salt as an integer): the device's stored verifier must match it.
    x = srp6a.calculate_x(H, bytes_to_long(salt), username, password)
    return long_to_bytes(pow(G, x, N))


def sec2_vector(name, patch, username, password, salt, a_secret, b_secret, nonce, note):
    a = bytes_to_long(a_secret) | (1 << 255)
    srp6a.get_random_of_length = lambda nbytes: a
    v = bytes_to_long(verifier_for(salt, username, password))
    b = bytes_to_long(b_secret) | (1 << 255)
    B = (K_MUL * v + pow(G, b, N)) % N

    sec = security.Security2(patch, username, password, False)
    req0 = sec.security_session(None).encode("latin-1")
    A = pow(G, a, N)

    resp = proto.session_pb2.SessionData()
    resp.sec_ver = proto.session_pb2.SecScheme2
    resp.sec2.msg = proto.sec2_pb2.S2Session_Response0
    resp.sec2.sr0.device_pubkey = long_to_bytes(B)
    resp.sec2.sr0.device_salt = salt
    resp0 = resp.SerializeToString()
    req1 = sec.security_session(resp0.decode("latin-1")).encode("latin-1")

    u = srp6a.H(H, A, B, width=len(long_to_bytes(N)))
    S = pow(A * pow(v, u, N), b, N)
    K = H(long_to_bytes(S)).digest()
    M = srp6a.calculate_M(H, N, G, username, bytes_to_long(salt), A, B, K)
    hamk = srp6a.calculate_H_AMK(H, A, M, K)

    resp = proto.session_pb2.SessionData()
    resp.sec_ver = proto.session_pb2.SecScheme2
    resp.sec2.msg = proto.sec2_pb2.S2Session_Response1
    resp.sec2.sr1.device_proof = hamk
    resp.sec2.sr1.device_nonce = nonce
    resp1 = resp.SerializeToString()
    assert sec.security_session(resp1.decode("latin-1")) is None
    assert sec.srp6a_ctx.get_session_key() == K

    request = prov.config_set_config_request(sec, SSID, PASSPHRASE).encode("latin-1")
    gcm = AESGCM(K[:32])
    dev_nonce = bytearray(nonce)
    request_plain = gcm.decrypt(bytes(dev_nonce), request, None)
    if patch == 1:
        dev_nonce[8:] = (int.from_bytes(dev_nonce[8:], "big") + 1).to_bytes(4, "big")
    answer_plain = answer_set_config()
    answer = gcm.encrypt(bytes(dev_nonce), answer_plain, None)
    assert prov.config_set_config_response(sec, answer.decode("latin-1")) == 0
    return {
        "name": name, "security": 2, "patch": patch, "note": note,
        "username": username, "password": password, "salt": salt.hex(),
        "verifier": long_to_bytes(v).hex(),
        "client_secret": a_secret.hex(), "device_secret": b_secret.hex(), "nonce": nonce.hex(),
        "request0": req0.hex(), "response0": resp0.hex(),
        "request1": req1.hex(), "response1": resp1.hex(),
        "session_key": K.hex(),
        "request_plain": request_plain.hex(), "request": request.hex(),
        "answer_plain": answer_plain.hex(), "answer": answer.hex(),
    }


def first(label, pred, n=32):
    for i in range(100000):
        cand = det(label, i, n)
        if pred(cand):
            return cand
    raise SystemExit(f"no {label} found")


def short(x):
    return len(long_to_bytes(x)) < 384


def main():
    user, pw = "wifiprov", "abcd1234"
    salt = det("salt", 0, 16)
    a0, b0, n0 = det("a", 0, 32), det("b", 0, 32), det("nonce", 0, 12)
    v0 = bytes_to_long(verifier_for(salt, user, pw))
    vectors = [
        sec1_vector("sec1 with PoP", "abcd1234", 0),
        sec1_vector("sec1 without PoP", "", 1),
        sec2_vector("sec2 patch 1", 1, user, pw, salt, a0, b0, n0, "plain case"),
        sec2_vector("sec2 patch 0", 0, user, pw, salt, a0, b0, n0, "nonce reused for every message"),
    ]
    salt_z = b"\x00" + det("salt-z", 0, 15)
    vectors.append(sec2_vector("sec2 salt with a leading zero", 1, user, pw, salt_z, a0, b0, n0,
                               "salt hashed without its leading zero"))
    a_z = first("a-z", lambda c: short(pow(G, bytes_to_long(c) | (1 << 255), N)))
    vectors.append(sec2_vector("sec2 A with a leading zero", 1, user, pw, salt, a_z, b0, n0,
                               "A sent and hashed in M, H(A,M,K) without its leading zero, padded in u"))
    b_z = first("b-z", lambda c: short((K_MUL * v0 + pow(G, bytes_to_long(c) | (1 << 255), N)) % N))
    vectors.append(sec2_vector("sec2 B with a leading zero", 1, user, pw, salt, a0, b_z, n0,
                               "B sent and hashed in M without its leading zero, padded in u"))
    A0 = pow(G, bytes_to_long(a0) | (1 << 255), N)

    def s_short(c):
        b = bytes_to_long(c) | (1 << 255)
        B = (K_MUL * v0 + pow(G, b, N)) % N
        u = srp6a.H(H, A0, B, width=384)
        return short(pow(A0 * pow(v0, u, N), b, N))
    b_s = first("b-s", s_short)
    vectors.append(sec2_vector("sec2 S with a leading zero", 1, user, pw, salt, a0, b_s, n0,
                               "K = H(S) over S without its leading zero"))
    for i in range(100000):
        p = f"pop-{i}"
        if H(f"{user}:{p}".encode()).digest()[0] == 0:
            break
    vectors.append(sec2_vector("sec2 H(I:p) with a leading zero", 1, user, p, salt, a0, b0, n0,
                               "x = H(s | H(I:p)) with H(I:p) without its leading zero"))
    json.dump({"generator": "ble-provisioning/testdata/gen_golden.py",
               "reference": "esp-rainmaker-cli 1.14.1 (rmaker_tools.common.security)",
               "vectors": vectors}, sys.stdout, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
