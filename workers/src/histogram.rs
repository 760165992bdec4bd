//! An HDR histogram that serialises losslessly (HdrHistogram V2 + DEFLATE, base64) so
//! that statistics cross the wire and the summary file and still merge exactly.

use hdrhistogram::serialization::{Deserializer, Serializer, V2DeflateSerializer};
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

/// The largest value the histograms are sized for: one hour in microseconds. Values up
/// to it keep 3 significant digits; a larger one is recorded at the histogram's highest
/// trackable value (at or just above this, where its bucket ends), and `Stats::clamped`
/// counts how many were.
pub const MAX_VALUE: u64 = 3_600_000_000;
/// Significant decimal digits kept.
pub const SIGFIG: u8 = 3;

/// A histogram of microseconds (or counts), 3 significant digits. A live histogram
/// holds every bucket (~190 KB); `pack` swaps it for its compressed encoding (usually
/// about a kilobyte) so that a long run can keep one per second without growing.
#[derive(Clone, Debug)]
pub struct Hist(Repr);

#[derive(Clone, Debug)]
enum Repr {
    Live(Box<Histogram<u64>>),
    Packed(String),
}

fn empty() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_VALUE, SIGFIG).expect("valid bounds")
}

impl Default for Hist {
    fn default() -> Self {
        Hist(Repr::Live(Box::new(empty())))
    }
}

impl PartialEq for Hist {
    fn eq(&self, other: &Self) -> bool {
        *self.histogram() == *other.histogram()
    }
}

impl Hist {
    /// The live histogram, decoding a packed one (only `Hist::decode`d strings are packed).
    fn histogram(&self) -> std::borrow::Cow<'_, Histogram<u64>> {
        match &self.0 {
            Repr::Live(h) => std::borrow::Cow::Borrowed(h),
            Repr::Packed(text) => std::borrow::Cow::Owned(unpack(text).expect("packed by this type, so it decodes")),
        }
    }

    fn live(&mut self) -> &mut Histogram<u64> {
        if let Repr::Packed(text) = &self.0 {
            self.0 = Repr::Live(Box::new(unpack(text).expect("packed by this type, so it decodes")));
        }
        match &mut self.0 {
            Repr::Live(h) => h,
            Repr::Packed(_) => unreachable!("unpacked above"),
        }
    }

    /// Record one value (0 is recorded as 0, beyond `MAX_VALUE` clamped).
    pub fn record(&mut self, v: u64) {
        self.live().saturating_record(v);
    }

    /// Add every count of `other`: exact, the same as recording its samples here.
    pub fn merge(&mut self, other: &Hist) {
        let other = other.histogram();
        self.live().add(&*other).expect("histograms with the same bounds always add");
    }

    /// Keep only the compressed encoding (until the next `record` or `merge`).
    pub fn pack(&mut self) {
        if let Repr::Live(_) = self.0 {
            self.0 = Repr::Packed(self.encode());
        }
    }

    pub fn count(&self) -> u64 {
        self.histogram().len()
    }

    /// The value at quantile `q` (0..=1), or 0 when empty.
    pub fn quantile(&self, q: f64) -> u64 {
        let h = self.histogram();
        if h.is_empty() {
            0
        } else {
            h.value_at_quantile(q)
        }
    }

    pub fn min(&self) -> u64 {
        let h = self.histogram();
        if h.is_empty() {
            0
        } else {
            h.min()
        }
    }

    pub fn max(&self) -> u64 {
        self.histogram().max()
    }

    pub fn mean(&self) -> f64 {
        self.histogram().mean()
    }

    /// The underlying histogram, e.g. for HdrHistogram log writers.
    pub fn to_histogram(&self) -> Histogram<u64> {
        self.histogram().into_owned()
    }

    /// Base64 of the V2 DEFLATE encoding.
    pub fn encode(&self) -> String {
        use base64::Engine;
        match &self.0 {
            Repr::Packed(text) => text.clone(),
            Repr::Live(h) => {
                let mut bytes = Vec::new();
                V2DeflateSerializer::new().serialize(&**h, &mut bytes).expect("serialising to memory cannot fail");
                base64::engine::general_purpose::STANDARD.encode(bytes)
            }
        }
    }

    /// A histogram from its `encode`d text.
    pub fn decode(text: &str) -> Result<Hist, DecodeError> {
        unpack(text).map(|h| Hist(Repr::Live(Box::new(h))))
    }
}

/// An encoded histogram that does not decode.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("histogram is not base64")]
    NotBase64(#[source] base64::DecodeError),
    #[error("histogram does not decode")]
    NotHdrHistogram(#[source] hdrhistogram::serialization::DeserializeError),
    /// Values beyond `MAX_VALUE`, or fewer significant digits than `SIGFIG`.
    #[error("histogram out of range")]
    OutOfRange(#[source] hdrhistogram::errors::AdditionError),
}

fn unpack(text: &str) -> Result<Histogram<u64>, DecodeError> {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::STANDARD.decode(text).map_err(DecodeError::NotBase64)?;
    let h: Histogram<u64> =
        Deserializer::new().deserialize(&mut bytes.as_slice()).map_err(DecodeError::NotHdrHistogram)?;
    let mut out = empty();
    out.add(&h).map_err(DecodeError::OutOfRange)?;
    Ok(out)
}

impl Serialize for Hist {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.encode())
    }
}

impl<'de> Deserialize<'de> for Hist {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Hist::decode(&text).map_err(|e| serde::de::Error::custom(crate::chain::error_chain(&e)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merged_halves_equal_one_histogram_of_every_sample() {
        let (mut a, mut b, mut all) = (Hist::default(), Hist::default(), Hist::default());
        for i in 0..20_000u64 {
            let v = (i * 7919) % 5_000_000 + 1;
            if i % 3 == 0 {
                a.record(v)
            } else {
                b.record(v)
            }
            all.record(v);
        }
        a.merge(&b);
        assert_eq!(a, all);
        for q in [0.5, 0.9, 0.99, 0.999, 1.0] {
            assert_eq!(a.quantile(q), all.quantile(q));
        }
    }

    #[test]
    fn serialisation_round_trips_exactly() {
        let mut h = Hist::default();
        for v in [1, 10, 999, 1_000_001, MAX_VALUE * 2] {
            h.record(v);
        }
        let json = serde_json::to_string(&h).unwrap();
        let back: Hist = serde_json::from_str(&json).unwrap();
        assert_eq!(back, h);
        assert_eq!(back.max(), h.max());
    }

    #[test]
    fn packed_histograms_answer_and_merge_like_live_ones() {
        let mut live = Hist::default();
        for v in 1..5_000u64 {
            live.record(v * 13);
        }
        let mut packed = live.clone();
        packed.pack();
        assert!(packed.encode().len() < 20_000, "packed is small: {}", packed.encode().len());
        assert_eq!(packed, live);
        assert_eq!((packed.quantile(0.99), packed.count()), (live.quantile(0.99), live.count()));
        let mut total = Hist::default();
        total.merge(&packed);
        total.merge(&live);
        assert_eq!(total.count(), 2 * live.count());
        packed.record(7);
        assert_eq!(packed.count(), live.count() + 1);
    }
}
