//! Both sides of the handshakes reproduce, byte for byte, the messages Espressif's own Python
//! client (esp-rainmaker-cli 1.14.1) produced with the same secrets (`testdata/golden.json`,
//! made by `testdata/gen_golden.py`).

use ble_provisioning::security::{
    Cipher, ClientHandshake, Credentials, DeviceHandshake, DeviceSecrets, DeviceSecurity, Level,
    Step,
};
use ble_provisioning::srp;
use serde_json::Value;

fn vectors() -> Vec<Value> {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/golden.json"))
            .unwrap();
    let json: Value = serde_json::from_str(&text).unwrap();
    json["vectors"].as_array().unwrap().clone()
}

fn bytes(v: &Value, key: &str) -> Vec<u8> {
    hex::decode(v[key].as_str().unwrap_or_else(|| panic!("{key}"))).unwrap()
}

fn arr<const N: usize>(v: &Value, key: &str) -> [u8; N] {
    bytes(v, key).try_into().unwrap()
}

fn sent(step: Step) -> Vec<u8> {
    match step {
        Step::Send(bytes) => bytes,
        Step::Done(_) => panic!("the handshake ended early"),
    }
}

fn done(step: Step) -> Cipher {
    match step {
        Step::Done(cipher) => cipher,
        Step::Send(_) => panic!("the handshake did not end"),
    }
}

fn setup(v: &Value) -> (Level, Credentials, u32, DeviceSecurity) {
    match v["security"].as_u64().unwrap() {
        1 => {
            let pop = v["pop"].as_str().unwrap().to_owned();
            (
                Level::Sec1,
                Credentials {
                    pop: pop.clone(),
                    username: String::new(),
                },
                0,
                DeviceSecurity::Sec1 { pop },
            )
        }
        2 => {
            let patch = v["patch"].as_u64().unwrap() as u32;
            let username = v["username"].as_str().unwrap().to_owned();
            let password = v["password"].as_str().unwrap().to_owned();
            (
                Level::Sec2,
                Credentials {
                    pop: password,
                    username: username.clone(),
                },
                patch,
                DeviceSecurity::Sec2 {
                    username,
                    salt: bytes(v, "salt"),
                    verifier: bytes(v, "verifier"),
                    patch,
                },
            )
        }
        other => panic!("security {other}"),
    }
}

#[test]
fn cairn_client_matches_espressif_byte_for_byte() {
    let vectors = vectors();
    assert_eq!(vectors.len(), 9, "2 sec1 + 7 sec2 vectors");
    for v in &vectors {
        let name = v["name"].as_str().unwrap();
        let (level, credentials, patch, _) = setup(v);
        let mut client =
            ClientHandshake::with_secret(level, credentials, patch, arr(v, "client_secret"))
                .unwrap();
        assert_eq!(
            sent(client.step(None).unwrap()),
            bytes(v, "request0"),
            "{name}: request 0"
        );
        assert_eq!(
            sent(client.step(Some(&bytes(v, "response0"))).unwrap()),
            bytes(v, "request1"),
            "{name}: request 1 (client proof)"
        );
        let mut cipher = done(client.step(Some(&bytes(v, "response1"))).unwrap());
        assert_eq!(
            cipher.encrypt(&bytes(v, "request_plain")).unwrap(),
            bytes(v, "request"),
            "{name}: first encrypted message"
        );
        assert_eq!(
            cipher.decrypt(&bytes(v, "answer")).unwrap(),
            bytes(v, "answer_plain"),
            "{name}: first decrypted answer"
        );
    }
}

#[test]
fn cairn_device_matches_espressif_byte_for_byte() {
    for v in &vectors() {
        let name = v["name"].as_str().unwrap();
        let (_, credentials, _, security) = setup(v);
        if let DeviceSecurity::Sec2 {
            username,
            salt,
            verifier,
            ..
        } = &security
        {
            assert_eq!(
                &srp::verifier(salt, username.as_bytes(), credentials.pop.as_bytes()),
                verifier,
                "{name}: verifier"
            );
        }
        let secrets = DeviceSecrets {
            secret: arr(v, "device_secret"),
            random: if v["security"] == 1 {
                arr(v, "device_random")
            } else {
                [0; 16]
            },
            nonce: if v["security"] == 2 {
                arr(v, "nonce")
            } else {
                [0; 12]
            },
        };
        let mut device = DeviceHandshake::new(security, secrets);
        let (answer, cipher) = device.handle(&bytes(v, "request0")).unwrap();
        assert_eq!(answer, bytes(v, "response0"), "{name}: response 0");
        assert!(cipher.is_none());
        let (answer, cipher) = device.handle(&bytes(v, "request1")).unwrap();
        assert_eq!(answer, bytes(v, "response1"), "{name}: response 1");
        let mut cipher = cipher.unwrap();
        assert_eq!(
            cipher.decrypt(&bytes(v, "request")).unwrap(),
            bytes(v, "request_plain"),
            "{name}: device decrypts"
        );
        assert_eq!(
            cipher.encrypt(&bytes(v, "answer_plain")).unwrap(),
            bytes(v, "answer"),
            "{name}: device encrypts"
        );
    }
}

#[test]
fn a_wrong_pop_fails_on_both_sides() {
    for v in &vectors() {
        let name = v["name"].as_str().unwrap();
        let (level, mut credentials, patch, security) = setup(v);
        if credentials.pop.is_empty() {
            continue;
        }
        credentials.pop.push('x');
        let mut client =
            ClientHandshake::with_secret(level, credentials, patch, arr(v, "client_secret"))
                .unwrap();
        let mut device = DeviceHandshake::new(security, DeviceSecrets::fresh().unwrap());
        let (r0, _) = device.handle(&sent(client.step(None).unwrap())).unwrap();
        let req1 = sent(client.step(Some(&r0)).unwrap());
        let err = device.handle(&req1).unwrap_err();
        assert!(
            matches!(
                err,
                ble_provisioning::Error::WrongPop | ble_provisioning::Error::Srp(_)
            ),
            "{name}: {err}"
        );
    }
}
