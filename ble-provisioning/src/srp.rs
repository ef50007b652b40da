//! SRP6a as Espressif's provisioning uses it (security 2): SHA-512 over the RFC 5054 3072-bit
//! group (g = 5), with the byte encodings of ESP's reference implementation (`esp_prov`
//! `srp6a.py`), leading zeros included: `k` and `u` hash values left-padded to the group size,
//! while the salt, `H(I:p)`, `A`, `B` and the premaster secret `S` are hashed as minimal big-endian
//! integers (their leading zero bytes dropped). The golden vectors in `testdata/` pin each case.

use num_bigint::BigUint;
use sha2::{Digest, Sha512};

use crate::Error;

/// RFC 5054 3072-bit group prime.
const N_HEX: &str = "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7EDEE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF0598DA48361C55D39A69163FA8FD24CF5F83655D23DCA3AD961C62F356208552BB9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3BE39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF6955817183995497CEA956AE515D2261898FA051015728E5A8AAAC42DAD33170D04507A33A85521ABDF1CBA64ECFB850458DBEF0A8AEA71575D060C7DB3970F85A6E1E4C7ABF5AE8CDB0933D71E8C94E04A25619DCEE3D2261AD2EE6BF12FFA06D98A0864D87602733EC86A64521F2B18177B200CBBE117577A615D6C770988C0BAD946E208E24FA074E5AB3143DB5BFCE0FD108E4B82D120A93AD2CAFFFFFFFFFFFFFFFF";
/// Generator of the group.
const G: u32 = 5;
/// Bytes of a group element.
pub(crate) const GROUP_BYTES: usize = 384;
/// Bytes of the ephemeral secrets `a` and `b` (ESP uses 32, top bit set).
pub(crate) const SECRET_BYTES: usize = 32;

/// The group and the values derived from it once.
#[derive(Debug, Clone)]
pub(crate) struct Group {
    n: BigUint,
    g: BigUint,
    k: BigUint,
}

impl Group {
    pub(crate) fn new() -> Self {
        // The constant is valid hex, so parsing cannot fail; fall back to zero to stay panic-free.
        let n = BigUint::parse_bytes(N_HEX.as_bytes(), 16).unwrap_or_default();
        let g = BigUint::from(G);
        let k = int(&hash(&[&pad(&n), &pad(&g)]));
        Self { n, g, k }
    }
}

/// Minimal big-endian bytes (`long_to_bytes`: zero is one zero byte).
pub(crate) fn min_bytes(x: &BigUint) -> Vec<u8> {
    x.to_bytes_be()
}

/// Big-endian bytes left-padded to the group size.
pub(crate) fn pad(x: &BigUint) -> Vec<u8> {
    let bytes = x.to_bytes_be();
    let mut out = vec![0u8; GROUP_BYTES.saturating_sub(bytes.len())];
    out.extend_from_slice(&bytes);
    out
}

fn hash(parts: &[&[u8]]) -> [u8; 64] {
    let mut h = Sha512::new();
    for part in parts {
        h.update(part);
    }
    h.finalize().into()
}

fn int(bytes: &[u8]) -> BigUint {
    BigUint::from_bytes_be(bytes)
}

/// `x = H(s | H(I ":" p))`, both as minimal integers.
fn private_key(salt: &[u8], username: &[u8], password: &[u8]) -> BigUint {
    let inner = hash(&[username, b":", password]);
    int(&hash(&[&min_bytes(&int(salt)), &min_bytes(&int(&inner))]))
}

/// `M = H(H(N) xor H(g) | H(I) | s | A | B | K)`.
fn client_proof(
    group: &Group,
    username: &[u8],
    salt: &[u8],
    a_pub: &BigUint,
    b_pub: &BigUint,
    key: &[u8],
) -> [u8; 64] {
    let hn = hash(&[&min_bytes(&group.n)]);
    let hg = hash(&[&pad(&group.g)]);
    let xor: Vec<u8> = hn.iter().zip(hg.iter()).map(|(a, b)| a ^ b).collect();
    hash(&[
        &xor,
        &hash(&[username]),
        &min_bytes(&int(salt)),
        &min_bytes(a_pub),
        &min_bytes(b_pub),
        key,
    ])
}

/// `H(A | M | K)`: the device's proof.
fn device_proof(a_pub: &BigUint, m: &[u8], key: &[u8]) -> [u8; 64] {
    hash(&[&min_bytes(a_pub), m, key])
}

/// The verifier `v = g^x` a device stores for `username`/`password` with `salt`.
pub fn verifier(salt: &[u8], username: &[u8], password: &[u8]) -> Vec<u8> {
    let group = Group::new();
    min_bytes(
        &group
            .g
            .modpow(&private_key(salt, username, password), &group.n),
    )
}

/// The client half: holds `a`.
#[derive(Debug, Clone)]
pub(crate) struct Client {
    group: Group,
    a: BigUint,
    a_pub: BigUint,
}

/// What the client derives from the device's challenge.
#[derive(Debug, Clone)]
pub(crate) struct ClientKeys {
    /// The client proof `M` sent to the device.
    pub(crate) proof: [u8; 64],
    /// The device proof the client expects back.
    pub(crate) expected_device_proof: [u8; 64],
    /// The shared key `K = H(S)`.
    pub(crate) key: [u8; 64],
}

impl Client {
    pub(crate) fn new(secret: &[u8; SECRET_BYTES]) -> Self {
        let group = Group::new();
        let a = int(secret);
        let a_pub = group.g.modpow(&a, &group.n);
        Self { group, a, a_pub }
    }

    /// `A`, as ESP sends it (minimal bytes).
    pub(crate) fn public(&self) -> Vec<u8> {
        min_bytes(&self.a_pub)
    }

    pub(crate) fn process_challenge(
        &self,
        username: &[u8],
        password: &[u8],
        salt: &[u8],
        b_bytes: &[u8],
    ) -> Result<ClientKeys, Error> {
        let g = &self.group;
        let b_pub = int(b_bytes);
        if (&b_pub % &g.n) == BigUint::ZERO {
            return Err(Error::Srp("the device's public key B is 0 mod N"));
        }
        let u = int(&hash(&[&pad(&self.a_pub), &pad(&b_pub)]));
        if u == BigUint::ZERO {
            return Err(Error::Srp("the scrambling parameter u is 0"));
        }
        let x = private_key(salt, username, password);
        let v = g.g.modpow(&x, &g.n);
        let kv = (&g.k * &v) % &g.n;
        let base = ((&b_pub % &g.n) + &g.n - kv) % &g.n;
        let s = base.modpow(&(&self.a + &u * &x), &g.n);
        let key = hash(&[&min_bytes(&s)]);
        let proof = client_proof(g, username, salt, &self.a_pub, &b_pub, &key);
        let expected_device_proof = device_proof(&self.a_pub, &proof, &key);
        Ok(ClientKeys {
            proof,
            expected_device_proof,
            key,
        })
    }
}

/// The device half: holds the verifier and `b`.
#[derive(Debug, Clone)]
pub(crate) struct Device {
    group: Group,
    v: BigUint,
    b: BigUint,
    b_pub: BigUint,
}

impl Device {
    pub(crate) fn new(verifier: &[u8], secret: &[u8; SECRET_BYTES]) -> Self {
        let group = Group::new();
        let v = int(verifier);
        let b = int(secret);
        let b_pub = ((&group.k * &v) + group.g.modpow(&b, &group.n)) % &group.n;
        Self { group, v, b, b_pub }
    }

    /// `B` (minimal bytes).
    pub(crate) fn public(&self) -> Vec<u8> {
        min_bytes(&self.b_pub)
    }

    /// Checks the client's proof; returns the device proof and `K`.
    pub(crate) fn verify(
        &self,
        username: &[u8],
        salt: &[u8],
        a_bytes: &[u8],
        client_proof_bytes: &[u8],
    ) -> Result<([u8; 64], [u8; 64]), Error> {
        let g = &self.group;
        let a_pub = int(a_bytes);
        if (&a_pub % &g.n) == BigUint::ZERO {
            return Err(Error::Srp("the client's public key A is 0 mod N"));
        }
        let u = int(&hash(&[&pad(&a_pub), &pad(&self.b_pub)]));
        let s = ((&a_pub * self.v.modpow(&u, &g.n)) % &g.n).modpow(&self.b, &g.n);
        let key = hash(&[&min_bytes(&s)]);
        let expected = client_proof(g, username, salt, &a_pub, &self.b_pub, &key);
        if expected.as_slice() != client_proof_bytes {
            return Err(Error::Srp(
                "the client's proof does not match (wrong username or PoP)",
            ));
        }
        Ok((device_proof(&a_pub, &expected, &key), key))
    }
}
