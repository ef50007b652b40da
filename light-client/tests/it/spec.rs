//! The consensus-spec `light_client/sync` tests (minimal preset, Deneb and Electra): bootstrap,
//! then `process_update` / `force_update` steps, comparing the store after each step with the
//! expected finalized and optimistic headers.

use light_client::config::ForkEntry;
use light_client::{Bootstrap, ChainConfig, Fork, Store, Update};
use serde_yaml::Value;

use crate::fixtures::{fixture, root, unsnappy};

/// One test case: its files, embedded.
struct Case {
    name: &'static str,
    meta: &'static [u8],
    config: &'static [u8],
    steps: &'static [u8],
    bootstrap: &'static [u8],
    updates: &'static [(&'static str, &'static [u8])],
}

/// The minimal-preset network of a test's `config.yaml`.
fn minimal_config(yaml: &[u8], genesis_validators_root: alloy_primitives::B256) -> ChainConfig {
    let config: Value = serde_yaml::from_slice(yaml).unwrap();
    let version = |name: &str| -> [u8; 4] {
        let text = match &config[name] {
            Value::String(s) => s.clone(),
            Value::Number(n) => format!("0x{:08x}", n.as_u64().unwrap()),
            other => panic!("{name}: {other:?}"),
        };
        crate::fixtures::unhex(&text).try_into().unwrap()
    };
    let epoch = |name: &str| config[name].as_u64().unwrap_or(u64::MAX);
    let mut forks = vec![ForkEntry {
        fork: Fork::Phase0,
        epoch: 0,
        version: version("GENESIS_FORK_VERSION"),
    }];
    for (fork, prefix) in [
        (Fork::Altair, "ALTAIR"),
        (Fork::Bellatrix, "BELLATRIX"),
        (Fork::Capella, "CAPELLA"),
        (Fork::Deneb, "DENEB"),
        (Fork::Electra, "ELECTRA"),
    ] {
        if config.get(format!("{prefix}_FORK_VERSION")).is_some() {
            forks.push(ForkEntry {
                fork,
                epoch: epoch(&format!("{prefix}_FORK_EPOCH")),
                version: version(&format!("{prefix}_FORK_VERSION")),
            });
        }
    }
    forks.sort_by_key(|f| f.epoch);
    let config = ChainConfig {
        name: "minimal".into(),
        genesis_validators_root,
        genesis_time: 0,
        seconds_per_slot: 6,
        slots_per_epoch: 8,
        epochs_per_sync_committee_period: 8,
        sync_committee_size: 32,
        forks,
    };
    config.validate().unwrap();
    config
}

fn check(store: &Store, checks: &Value, step: usize, case: &str) {
    for (which, header) in [
        ("finalized_header", store.finalized_header()),
        ("optimistic_header", store.optimistic_header()),
    ] {
        let expected = &checks[which];
        assert_eq!(
            header.beacon.slot,
            expected["slot"].as_u64().unwrap(),
            "{case} step {step}: {which} slot"
        );
        assert_eq!(
            header.beacon.root(),
            root(expected["beacon_root"].as_str().unwrap()),
            "{case} step {step}: {which} beacon_root"
        );
        assert_eq!(
            header.execution_root(store.config()),
            root(expected["execution_root"].as_str().unwrap()),
            "{case} step {step}: {which} execution_root"
        );
    }
}

fn run(case: &Case) -> usize {
    let meta: Value = serde_yaml::from_slice(case.meta).unwrap();
    let gvr = root(meta["genesis_validators_root"].as_str().unwrap());
    let config = minimal_config(case.config, gvr);
    let digest = |text: &str| -> [u8; 4] { crate::fixtures::unhex(text).try_into().unwrap() };
    let bootstrap_fork = config
        .fork_of_digest(digest(meta["bootstrap_fork_digest"].as_str().unwrap()))
        .unwrap();
    let bootstrap =
        Bootstrap::from_ssz(&unsnappy(case.bootstrap), bootstrap_fork, &config).unwrap();
    let trusted = root(meta["trusted_block_root"].as_str().unwrap());
    let mut store = Store::bootstrap(config.clone(), trusted, bootstrap).unwrap();

    let steps: Value = serde_yaml::from_slice(case.steps).unwrap();
    let steps = steps.as_sequence().unwrap();
    for (index, step) in steps.iter().enumerate() {
        if let Some(process) = step.get("process_update") {
            let name = process["update"].as_str().unwrap();
            let bytes = case
                .updates
                .iter()
                .find(|(file, _)| file.trim_end_matches(".ssz_snappy") == name)
                .map(|(_, bytes)| unsnappy(bytes))
                .unwrap_or_else(|| panic!("{}: missing {name}", case.name));
            let fork = config
                .fork_of_digest(digest(process["update_fork_digest"].as_str().unwrap()))
                .unwrap();
            let update = Update::from_ssz(&bytes, fork, &config).unwrap();
            let slot = process["current_slot"].as_u64().unwrap();
            store
                .process_update(update, slot)
                .unwrap_or_else(|e| panic!("{} step {index} ({name}): {e}", case.name));
            check(&store, &process["checks"], index, case.name);
        } else if let Some(force) = step.get("force_update") {
            store
                .force_update(force["current_slot"].as_u64().unwrap())
                .unwrap();
            check(&store, &force["checks"], index, case.name);
        } else {
            panic!("{}: unknown step {step:?}", case.name);
        }
    }
    steps.len()
}

macro_rules! case {
    ($fork:literal, $name:literal, [$($update:literal),* $(,)?]) => {
        Case {
            name: concat!($fork, "/", $name),
            meta: fixture!(concat!("helios-spec-tests-minimal/", $fork, "/", $name, "/meta.yaml")),
            config: fixture!(concat!("helios-spec-tests-minimal/", $fork, "/", $name, "/config.yaml")),
            steps: fixture!(concat!("helios-spec-tests-minimal/", $fork, "/", $name, "/steps.yaml")),
            bootstrap: fixture!(concat!("helios-spec-tests-minimal/", $fork, "/", $name, "/bootstrap.ssz_snappy")),
            updates: &[$(($update, fixture!(concat!("helios-spec-tests-minimal/", $fork, "/", $name, "/", $update)))),*],
        }
    };
}

#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn deneb_advance_finality_without_sync_committee() {
    let case = case!(
        "deneb",
        "advance_finality_without_sync_committee",
        [
            "update_0x9bca7308ab8f1ee5348b3ff6f809992c98e62bc1b97b2057e135e15a151c0b15_sf.ssz_snappy",
            "update_0x9bca7308ab8f1ee5348b3ff6f809992c98e62bc1b97b2057e135e15a151c0b15_xf.ssz_snappy",
            "update_0x9bca7308ab8f1ee5348b3ff6f809992c98e62bc1b97b2057e135e15a151c0b15_xx.ssz_snappy",
            "update_0xbccdacbfe0f0bfd10367dfc318b479e2830ed7c5119151ad0eb917fc66d51203_sf.ssz_snappy",
            "update_0xd4ce0e0859a2174eae7aaf78f495881993cbc87fd3ce4e989e06e394997b392d_xf.ssz_snappy",
        ]
    );
    assert!(run(&case) > 0);
}

#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn deneb_light_client_sync() {
    let case = case!(
        "deneb",
        "light_client_sync",
        [
            "update_0x03a58e8f457512a7988d38cb169b34b5da8c79051d3c886e98d36aa128a3e070_sf.ssz_snappy",
            "update_0x05165fba6c41bc5274d86d7794b06698d52bd4d275240a2b3ec08b04cf0635a8_xx.ssz_snappy",
            "update_0x786cfdfb9771e4c1c09ed01d74ecc5f8afe6c938e606ebc64d97ed7bdd67c556_sf.ssz_snappy",
            "update_0x8f3184a43451ee317bbef720462dabc4178523e729455b683d87532e37b0ddaf_sx.ssz_snappy",
            "update_0xbccdacbfe0f0bfd10367dfc318b479e2830ed7c5119151ad0eb917fc66d51203_sf.ssz_snappy",
            "update_0xc6c5ddcf90452de44c4999ae023184a2cd06131698243ce6600ee4f64b9619b3_xf.ssz_snappy",
            "update_0xd4ce0e0859a2174eae7aaf78f495881993cbc87fd3ce4e989e06e394997b392d_sf.ssz_snappy",
            "update_0xf6e7eb9c1fdcdfb8cb82e22f8bf6ca413a6a5124bc98475f456a82d863a47c8b_sf.ssz_snappy",
        ]
    );
    assert!(run(&case) > 0);
}

#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn deneb_supply_sync_committee_from_past_update() {
    let case = case!(
        "deneb",
        "supply_sync_committee_from_past_update",
        ["update_0xcf894a673152cca0f36a3b09b4d63a95015fd4861709fa1d6e3b38d3df38de4c_sf.ssz_snappy",]
    );
    assert!(run(&case) > 0);
}

#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn electra_advance_finality_without_sync_committee() {
    let case = case!(
        "electra",
        "advance_finality_without_sync_committee",
        [
            "update_0x0135573e3e3834ec18c1325bfd08816a6766d48a1fcd8e92984b094bd8207597_sf.ssz_snappy",
            "update_0x66f38b1586f12d7d2c42fcbf867817e5794c5ba526041c8ea2527e5cbeaefe5c_xf.ssz_snappy",
            "update_0x6ad1512a26e6b430d9916050f6bee1fde680c1fd1057f5d82a9695f7ba05b1ab_xf.ssz_snappy",
            "update_0x957b8d1aae7ed4f46dfbece27ba344efbcd4ba8ac508034ab8aa851546fb7b32_sf.ssz_snappy",
            "update_0x957b8d1aae7ed4f46dfbece27ba344efbcd4ba8ac508034ab8aa851546fb7b32_xf.ssz_snappy",
            "update_0x957b8d1aae7ed4f46dfbece27ba344efbcd4ba8ac508034ab8aa851546fb7b32_xx.ssz_snappy",
            "update_0xed3633b21718e0ad4f0eafca7349e20d78c2bd1128e9fb52ce63e60732635ade_sf.ssz_snappy",
            "update_0xfdc4c160932e0ce2aea3b37be2e25ab72693ab5ae612fc7a65e23f34d1a0e29d_sf.ssz_snappy",
            "update_0xfdc4c160932e0ce2aea3b37be2e25ab72693ab5ae612fc7a65e23f34d1a0e29d_xf.ssz_snappy",
            "update_0xfdc4c160932e0ce2aea3b37be2e25ab72693ab5ae612fc7a65e23f34d1a0e29d_xx.ssz_snappy",
        ]
    );
    assert!(run(&case) > 0);
}

#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn electra_light_client_sync() {
    let case = case!(
        "electra",
        "light_client_sync",
        [
            "update_0x0135573e3e3834ec18c1325bfd08816a6766d48a1fcd8e92984b094bd8207597_sf.ssz_snappy",
            "update_0x25f64cbf076547dfbc25207d9c29889675b80843e4d8673ead3a6d4256adfd10_sf.ssz_snappy",
            "update_0x385feaf30f37df7de56e32ab099bc5875d04af4af34dfd0d517b2a19d7cbc515_sx.ssz_snappy",
            "update_0x5d124d3e4e0590d597f0025096c16483a07fa86ff350e24990e3e34665075448_sf.ssz_snappy",
            "update_0x6120c479db1409967248efa2f3fa1cb7a29c237daccb43922ab68cf4b73b1344_sf.ssz_snappy",
            "update_0x614a8c7b473967ed7ec6e342cb2472de462abc08d4bab62fa075ee4f4f73549d_sf.ssz_snappy",
            "update_0x66f38b1586f12d7d2c42fcbf867817e5794c5ba526041c8ea2527e5cbeaefe5c_sf.ssz_snappy",
            "update_0x691c9ff80a4820d209c0fc3d044bb8a8256de549870d2e753ef35785be263d88_sf.ssz_snappy",
            "update_0x6ad1512a26e6b430d9916050f6bee1fde680c1fd1057f5d82a9695f7ba05b1ab_sf.ssz_snappy",
            "update_0x6d82fdd1fed607a582340184ab57cf266ae3b9daced05fc322e772633150b0b4_xx.ssz_snappy",
            "update_0xaab2b7f33438b2f19579aba316b4e90ac2a8778370ec47d7a2c827ad8cecf1ba_sf.ssz_snappy",
            "update_0xaea76277f39fc065517107b38db4e0b25ac9b839c1e7d26d8c5ae67faa16e5dc_xf.ssz_snappy",
            "update_0xb6f113ccae600134ede042b6ce7f75d6e55ac7a27e1d33e99db728c4b85b436d_sx.ssz_snappy",
            "update_0xbc05d63421b6884cf40b3f416c36ea0c6612b68220e6dc3ede7b754e88316cfe_xx.ssz_snappy",
            "update_0xed3633b21718e0ad4f0eafca7349e20d78c2bd1128e9fb52ce63e60732635ade_sf.ssz_snappy",
            "update_0xed4a5637066ffd1ac54700f538958802fac3d2e2817264250a9a69c3a791a0fe_xf.ssz_snappy",
        ]
    );
    assert!(run(&case) > 0);
}

#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn electra_supply_sync_committee_from_past_update() {
    let case = case!(
        "electra",
        "supply_sync_committee_from_past_update",
        [
            "update_0x83dbc2fa2597f8700f7722bd30594ff70b1aa182e884d1869eaad9993580fabc_sf.ssz_snappy",
            "update_0x9b9540f46ae0eec77002ab85529da89a8bc491d29745a3769789e7bee17ee6d7_sf.ssz_snappy",
        ]
    );
    assert!(run(&case) > 0);
}
