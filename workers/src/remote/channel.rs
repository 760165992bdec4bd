//! The encrypted, authenticated channel between a coordinator and a worker (protocol
//! version 3; the threat model is in docs/protocol.md).
//!
//! The handshake exchanges a fresh nonce and an ephemeral X25519 public key each way
//! (`Hello`, `Auth`). Each side derives two AES-256-GCM keys, one per direction, with
//! HKDF-SHA256 from the shared secret (when there is one) and the X25519 shared value,
//! salted with the transcript (both nonces and both public keys). Every frame after the
//! handshake is sealed: its 4-byte length is the additional data, its nonce a counter
//! per direction. So a party without the secret can neither read nor forge nor alter a
//! frame, a frame replayed from another session or out of order fails to open, and
//! recorded traffic stays unreadable even if the secret leaks later (the X25519 keys are
//! thrown away). The coordinator proves the secret in `Auth` (an HMAC over the
//! transcript, checked before anything else); the worker proves it by sealing
//! `Accepted`, which only the holder of the same keys can open.

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};
use aws_lc_rs::agreement::{agree_ephemeral, EphemeralPrivateKey, UnparsedPublicKey, X25519};
use aws_lc_rs::hkdf;
use aws_lc_rs::rand::SystemRandom;
use hmac::{KeyInit, Mac};

/// Bytes the seal adds to a frame (the GCM tag).
pub const TAG_LEN: usize = 16;

/// What can go wrong making the keys or sealing and opening a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ChannelError {
    #[error("X25519 key generation failed")]
    KeyGeneration,
    #[error("X25519 public key failed")]
    PublicKey,
    #[error("the peer's key is not hex")]
    PeerKeyNotHex,
    #[error("the peer's X25519 key is invalid")]
    PeerKeyInvalid,
    /// Deriving a direction's key (HKDF, or the AES-256-GCM key from its bytes).
    #[error("{0} failed")]
    Derivation(&'static str),
    #[error("the frame counter ran out")]
    CounterExhausted,
    #[error("sealing failed")]
    Sealing,
    /// A frame that does not open: altered, replayed, reordered, or sealed with other keys.
    #[error(
        "a frame failed its integrity check: altered in transit, replayed, or sealed with other keys (a wrong secret)"
    )]
    Integrity,
}

/// This side's ephemeral key for one handshake.
pub struct Ephemeral {
    private: EphemeralPrivateKey,
    /// The public key, hex, as sent.
    pub public: String,
}

impl Ephemeral {
    pub fn new() -> Result<Ephemeral, ChannelError> {
        let private =
            EphemeralPrivateKey::generate(&X25519, &SystemRandom::new()).map_err(|_| ChannelError::KeyGeneration)?;
        let public = private.compute_public_key().map_err(|_| ChannelError::PublicKey)?;
        Ok(Ephemeral { public: hex(public.as_ref()), private })
    }
}

/// What both sides saw of the handshake, in order: the worker's nonce and key, then the
/// coordinator's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transcript {
    pub worker_nonce: String,
    pub worker_key: String,
    pub coordinator_nonce: String,
    pub coordinator_key: String,
}

impl Transcript {
    fn bytes(&self) -> Vec<u8> {
        [&self.worker_nonce, &self.worker_key, &self.coordinator_nonce, &self.coordinator_key]
            .iter()
            .flat_map(|s| [s.as_bytes(), b"|"].concat())
            .collect()
    }

    /// The coordinator's proof that it holds `secret`, bound to this handshake.
    pub fn coordinator_proof(&self, secret: &[u8]) -> String {
        hex(&self.mac(secret).finalize().into_bytes())
    }

    /// Check the coordinator's proof in constant time.
    pub fn verify_coordinator_proof(&self, secret: &[u8], proof: &str) -> bool {
        unhex(proof).is_some_and(|p| self.mac(secret).verify_slice(&p).is_ok())
    }

    fn mac(&self, secret: &[u8]) -> hmac::Hmac<sha2::Sha256> {
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret).expect("HMAC takes keys of any length");
        mac.update(b"harness-auth-v3:coordinator|");
        mac.update(&self.bytes());
        mac
    }
}

/// The two directions' keys of one connection.
pub struct Keys {
    pub to_worker: Sealing,
    pub to_coordinator: Sealing,
}

/// Derive the connection's keys from our ephemeral key, the peer's public key (hex), the
/// shared secret if any, and the transcript.
pub fn derive(
    mine: Ephemeral,
    peer_public_hex: &str,
    secret: Option<&[u8]>,
    t: &Transcript,
) -> Result<Keys, ChannelError> {
    let peer = unhex(peer_public_hex).ok_or(ChannelError::PeerKeyNotHex)?;
    let peer = UnparsedPublicKey::new(&X25519, peer);
    let dh = agree_ephemeral(mine.private, peer, ChannelError::PeerKeyInvalid, |shared| Ok(shared.to_vec()))?;
    let mut ikm = secret.unwrap_or_default().to_vec();
    ikm.extend_from_slice(&dh);
    let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, &t.bytes()).extract(&ikm);
    let key = |label: &[u8]| -> Result<Sealing, ChannelError> {
        let info = [label];
        let okm = prk.expand(&info, &AES_256_GCM).map_err(|_| ChannelError::Derivation("HKDF expand"))?;
        let mut bytes = [0u8; 32];
        okm.fill(&mut bytes).map_err(|_| ChannelError::Derivation("HKDF fill"))?;
        let unbound = UnboundKey::new(&AES_256_GCM, &bytes).map_err(|_| ChannelError::Derivation("AES-256-GCM key"))?;
        Ok(Sealing { key: LessSafeKey::new(unbound), counter: 0 })
    };
    Ok(Keys {
        to_worker: key(b"harness v3 coordinator to worker")?,
        to_coordinator: key(b"harness v3 worker to coordinator")?,
    })
}

/// One direction's key and frame counter.
pub struct Sealing {
    key: LessSafeKey,
    counter: u64,
}

impl Sealing {
    fn nonce(&mut self) -> Result<Nonce, ChannelError> {
        let mut n = [0u8; 12];
        n[4..].copy_from_slice(&self.counter.to_be_bytes());
        self.counter = self.counter.checked_add(1).ok_or(ChannelError::CounterExhausted)?;
        Ok(Nonce::assume_unique_for_key(n))
    }

    /// Seal a frame's body; `len` (the sealed length, sent before it) is authenticated.
    pub fn seal(&mut self, mut body: Vec<u8>) -> Result<Vec<u8>, ChannelError> {
        let len = ((body.len() + TAG_LEN) as u32).to_be_bytes();
        let nonce = self.nonce()?;
        self.key.seal_in_place_append_tag(nonce, Aad::from(len), &mut body).map_err(|_| ChannelError::Sealing)?;
        Ok(body)
    }

    /// Open a sealed frame body: fails if it was altered, replayed, reordered or sealed
    /// with other keys.
    pub fn open(&mut self, mut sealed: Vec<u8>) -> Result<Vec<u8>, ChannelError> {
        let len = (sealed.len() as u32).to_be_bytes();
        let nonce = self.nonce()?;
        let plain = self.key.open_in_place(nonce, Aad::from(len), &mut sealed).map_err(|_| ChannelError::Integrity)?;
        let n = plain.len();
        sealed.truncate(n);
        Ok(sealed)
    }
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(worker_secret: Option<&[u8]>, coordinator_secret: Option<&[u8]>) -> (Keys, Keys) {
        let (w, c) = (Ephemeral::new().unwrap(), Ephemeral::new().unwrap());
        let t = Transcript {
            worker_nonce: "n1".into(),
            worker_key: w.public.clone(),
            coordinator_nonce: "n2".into(),
            coordinator_key: c.public.clone(),
        };
        let (wp, cp) = (w.public.clone(), c.public.clone());
        (derive(w, &cp, worker_secret, &t).unwrap(), derive(c, &wp, coordinator_secret, &t).unwrap())
    }

    #[test]
    fn frames_open_only_in_order_unaltered_and_with_the_same_secret() {
        let (mut worker, mut coordinator) = pair(Some(b"s3cret"), Some(b"s3cret"));
        let a = coordinator.to_worker.seal(b"run the plan".to_vec()).unwrap();
        let b = coordinator.to_worker.seal(b"heartbeat".to_vec()).unwrap();
        assert!(!a.windows(3).any(|w| w == b"run"), "sealed frames are unreadable");
        assert_eq!(worker.to_worker.open(a.clone()).unwrap(), b"run the plan");
        assert_eq!(worker.to_worker.open(a), Err(ChannelError::Integrity), "a replayed frame fails");
        let (mut worker2, mut coordinator2) = pair(Some(b"s3cret"), Some(b"s3cret"));
        let c = coordinator2.to_worker.seal(b"heartbeat".to_vec()).unwrap();
        let mut flipped = c.clone();
        flipped[3] ^= 1;
        assert!(worker2.to_worker.open(flipped).is_err(), "an altered frame fails");
        assert!(worker2.to_worker.open(c).is_err(), "and the session stays broken: the counter moved on");
        let (mut worker3, mut coordinator3) = pair(Some(b"s3cret"), Some(b"s3cret"));
        assert!(worker3.to_worker.open(b.clone()).is_err(), "another session's frame fails");
        // The other direction has its own key.
        let up = worker3.to_coordinator.seal(b"interval".to_vec()).unwrap();
        assert_eq!(coordinator3.to_coordinator.open(up).unwrap(), b"interval");
        assert!(coordinator3.to_worker.seal(Vec::new()).is_ok());
        let (mut w, mut c) = pair(Some(b"s3cret"), Some(b"guess"));
        assert!(c.to_coordinator.open(w.to_coordinator.seal(b"accepted".to_vec()).unwrap()).is_err(), "wrong secret");
    }

    #[test]
    fn the_coordinator_proof_is_bound_to_the_handshake() {
        let t = Transcript {
            worker_nonce: "a".into(),
            worker_key: "b".into(),
            coordinator_nonce: "c".into(),
            coordinator_key: "d".into(),
        };
        let p = t.coordinator_proof(b"s3cret");
        assert!(t.verify_coordinator_proof(b"s3cret", &p));
        assert!(!t.verify_coordinator_proof(b"other", &p));
        let swapped = Transcript { coordinator_key: "e".into(), ..t.clone() };
        assert!(!swapped.verify_coordinator_proof(b"s3cret", &p), "a substituted key breaks the proof");
    }
}
