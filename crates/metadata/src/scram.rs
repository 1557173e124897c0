//! SCRAM credentials (KIP-554) as the metadata state keeps them.
//!
//! Like Kafka's controller, the state never holds a password or the client-sent salted
//! password: an upsertion's SaltedPassword is turned into RFC 5802's StoredKey and ServerKey
//! before it becomes a command, and only salt, StoredKey, ServerKey and iterations are kept.

use hmac::digest::KeyInit;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256, Sha512};

/// The most iterations a credential may use (Kafka's `ScramControlManager.MAX_ITERATIONS`).
pub const MAX_SCRAM_ITERATIONS: i32 = 16384;

/// A SCRAM mechanism, with Kafka's type codes on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum ScramMechanism {
    /// SCRAM-SHA-256 (type code 1).
    #[serde(rename = "SCRAM-SHA-256")]
    ScramSha256 = 1,
    /// SCRAM-SHA-512 (type code 2).
    #[serde(rename = "SCRAM-SHA-512")]
    ScramSha512 = 2,
}

impl ScramMechanism {
    /// The mechanism with Kafka type code `code`; `None` for 0 (UNKNOWN) and any other value.
    pub fn from_type(code: i8) -> Option<Self> {
        match code {
            1 => Some(Self::ScramSha256),
            2 => Some(Self::ScramSha512),
            _ => None,
        }
    }

    /// Kafka's type code.
    pub fn type_code(self) -> i8 {
        self as i8
    }

    /// The SASL mechanism name ("SCRAM-SHA-256").
    pub fn name(self) -> &'static str {
        match self {
            Self::ScramSha256 => "SCRAM-SHA-256",
            Self::ScramSha512 => "SCRAM-SHA-512",
        }
    }

    /// The fewest iterations Kafka accepts for this mechanism (4096 for both).
    pub fn min_iterations(self) -> i32 {
        4096
    }
}

/// A stored SCRAM credential (RFC 5802): what a server needs to verify a client, nothing more.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScramCredential {
    /// The salt the client's SaltedPassword was derived with.
    pub salt: Vec<u8>,
    /// StoredKey = H(HMAC(SaltedPassword, "Client Key")).
    pub stored_key: Vec<u8>,
    /// ServerKey = HMAC(SaltedPassword, "Server Key").
    pub server_key: Vec<u8>,
    /// Iterations of Hi() used to derive SaltedPassword.
    pub iterations: i32,
}

impl ScramCredential {
    /// Derives the stored credential from a client-computed SaltedPassword, as Kafka's
    /// controller does for AlterUserScramCredentials; `salted_password` itself is not kept.
    pub fn from_salted_password(
        mechanism: ScramMechanism,
        salt: &[u8],
        salted_password: &[u8],
        iterations: i32,
    ) -> Self {
        let (stored_key, server_key) = match mechanism {
            ScramMechanism::ScramSha256 => derive::<Hmac<Sha256>, Sha256>(salted_password),
            ScramMechanism::ScramSha512 => derive::<Hmac<Sha512>, Sha512>(salted_password),
        };
        Self {
            salt: salt.to_vec(),
            stored_key,
            server_key,
            iterations,
        }
    }
}

/// (StoredKey, ServerKey) with HMAC `M` over hash `D`.
fn derive<M: Mac + KeyInit, D: Digest>(salted_password: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let hmac = |msg: &[u8]| {
        let mut mac = <M as KeyInit>::new_from_slice(salted_password)
            .expect("HMAC accepts keys of any length");
        mac.update(msg);
        mac.finalize().into_bytes().to_vec()
    };
    let stored_key = D::digest(hmac(b"Client Key")).to_vec();
    (stored_key, hmac(b"Server Key"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// RFC 7677's SCRAM-SHA-256 example (password "pencil", salt "W22ZaJ0SNY7soEsUEjb6gQ==",
    /// 4096 iterations). SaltedPassword is Hi() of those; the expected keys were computed with
    /// Python's hashlib/hmac, which reproduce the RFC's ClientProof and ServerSignature.
    #[test]
    fn sha256_keys_match_rfc_7677() {
        let salted = unhex("c4a49510323ab4f952cac1fa99441939e78ea74d6be81ddf7096e87513dc615d");
        let c = ScramCredential::from_salted_password(
            ScramMechanism::ScramSha256,
            b"salt",
            &salted,
            4096,
        );
        assert_eq!(
            hex(&c.stored_key),
            "586e5df283e6dceb5c3e791d8b8528ec191e664045ce971792e2e6b5bb13e2a6"
        );
        assert_eq!(
            hex(&c.server_key),
            "c1f3cbc1c13a9d35a14c0990eed97629ea225863e566a4314ab99f3f00e5d9d5"
        );
        assert_eq!(c.salt, b"salt");
        assert_eq!(c.iterations, 4096);
    }

    /// SCRAM-SHA-512 with password "pencil", salt "salt", 4096 iterations (expected values
    /// from Python's hashlib/hmac).
    #[test]
    fn sha512_keys_use_sha512() {
        let salted = unhex(
            "2cfe3a1c151662b1ea49d13f595674a1c666add70df15d3d02254e9905993878\
             261da7407fd11c2fee4b0a30df5154b1a752f86a13380ddd4bdd9a7c958ec769",
        );
        let c = ScramCredential::from_salted_password(
            ScramMechanism::ScramSha512,
            b"salt",
            &salted,
            4096,
        );
        assert_eq!(
            hex(&c.stored_key),
            "ff41e86c08f2e525a87285eda3d634d669bae8ab6c2e5b3e09ad0014a691fab9\
             eb26557062ff978ee011d9b23e6b87437df366cf7cd4c8747df9277d067fd330"
        );
        assert_eq!(
            hex(&c.server_key),
            "a20870894973d9c760b240b7a95060f1e63512b5f21b81f15ecfe996c163b648\
             d1af4132eaa2e63b3e89b46bb1592beee5f536c2e1005954521cf37278199629"
        );
    }

    #[test]
    fn mechanisms_round_trip_their_type_codes() {
        for m in [ScramMechanism::ScramSha256, ScramMechanism::ScramSha512] {
            assert_eq!(ScramMechanism::from_type(m.type_code()), Some(m));
        }
        assert_eq!(ScramMechanism::from_type(0), None);
        assert_eq!(ScramMechanism::from_type(3), None);
        assert_eq!(ScramMechanism::ScramSha512.name(), "SCRAM-SHA-512");
    }
}
