//! The kinds of on-chain event an engine must turn into orders, and [`PerKind`], one value per
//! kind.
//!
//! In: nothing. Out: [`EventKind`] (with [`EventKind::ALL`]) and [`PerKind<T>`], indexed by it.
//! Why: counts, stats and table rows exist once per kind in every stage (the scenario's
//! `per_block`, the load's delivery counts, the mock's truth, the report's totals). Keeping them
//! as a fixed array indexed by the enum, serialised as the map `{"twap": …, "ethflow": …}`, means
//! a new kind is one more variant here (plus its calldata and its truth matching) and the
//! compiler finds every `match` that must learn it; no struct with one field per kind is mirrored
//! from stage to stage.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;
use std::ops::{Index, IndexMut};

use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde::de::{self, MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The kind of on-chain event an order answers.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum EventKind {
    /// `ComposableCoW.ConditionalOrderCreated` for a TWAP.
    Twap,
    /// `CoWSwapEthFlow.OrderPlacement`.
    EthFlow,
}

/// How many kinds there are: the length of every [`PerKind`].
const KINDS: usize = 2;

impl EventKind {
    /// Every kind, in label order (the order of rows, columns and map keys everywhere).
    pub const ALL: [EventKind; KINDS] = [EventKind::Twap, EventKind::EthFlow];

    /// Every label, in [`EventKind::ALL`] order (for "expected one of" errors).
    pub const LABELS: [&'static str; KINDS] = ["twap", "ethflow"];

    /// The `kind` label value and map key: `"twap"` or `"ethflow"`.
    pub fn label(self) -> &'static str {
        Self::LABELS[self.index()]
    }

    /// The name people read in reports: `"TWAP"` or `"EthFlow"`.
    pub fn title(self) -> &'static str {
        match self {
            EventKind::Twap => "TWAP",
            EventKind::EthFlow => "EthFlow",
        }
    }

    /// What the kind's event is on chain, for schemas and docs.
    pub fn description(self) -> &'static str {
        match self {
            EventKind::Twap => {
                "TWAP creates: `ComposableCoW.create` emitting `ConditionalOrderCreated`"
            }
            EventKind::EthFlow => {
                "EthFlow orders: `CoWSwapEthFlow.createOrder` emitting `OrderPlacement`"
            }
        }
    }

    /// The kind whose label is `label`.
    pub fn from_label(label: &str) -> Option<EventKind> {
        Self::ALL.into_iter().find(|k| k.label() == label)
    }

    fn index(self) -> usize {
        match self {
            EventKind::Twap => 0,
            EventKind::EthFlow => 1,
        }
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// One `T` per [`EventKind`]. Serialised as a map from label to value; a missing key reads as
/// `T::default()` and an unknown key is an error naming the known ones.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct PerKind<T>([T; KINDS]);

impl<T> PerKind<T> {
    /// A value per kind from `f`.
    pub fn from_fn(mut f: impl FnMut(EventKind) -> T) -> Self {
        PerKind(EventKind::ALL.map(&mut f))
    }

    /// (kind, value) in [`EventKind::ALL`] order.
    pub fn iter(&self) -> impl Iterator<Item = (EventKind, &T)> {
        EventKind::ALL.into_iter().zip(self.0.iter())
    }

    /// Every value, mutably, in [`EventKind::ALL`] order.
    pub fn values_mut(&mut self) -> impl Iterator<Item = &mut T> {
        self.0.iter_mut()
    }

    /// Every value, in [`EventKind::ALL`] order.
    pub fn values(&self) -> impl Iterator<Item = &T> {
        self.0.iter()
    }

    /// This with `f` applied to every value.
    pub fn map<U>(&self, mut f: impl FnMut(EventKind, &T) -> U) -> PerKind<U> {
        PerKind::from_fn(|kind| f(kind, &self[kind]))
    }
}

impl<T: Copy + Into<u64>> PerKind<T> {
    /// The sum over every kind.
    pub fn total(&self) -> u64 {
        self.0.iter().map(|v| (*v).into()).sum()
    }
}

impl PerKind<u64> {
    /// Adds `other` kind by kind.
    pub fn add(&mut self, other: &PerKind<u64>) {
        for kind in EventKind::ALL {
            self[kind] += other[kind];
        }
    }
}

/// Values in [`EventKind::ALL`] order: `PerKind::from([twaps, ethflows])`. A new kind makes
/// every such literal a compile error, so none is silently misread.
impl<T> From<[T; KINDS]> for PerKind<T> {
    fn from(values: [T; KINDS]) -> Self {
        PerKind(values)
    }
}

impl<T> Index<EventKind> for PerKind<T> {
    type Output = T;
    fn index(&self, kind: EventKind) -> &T {
        &self.0[kind.index()]
    }
}

impl<T> IndexMut<EventKind> for PerKind<T> {
    fn index_mut(&mut self, kind: EventKind) -> &mut T {
        &mut self.0[kind.index()]
    }
}

impl<T: Serialize> Serialize for PerKind<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(KINDS))?;
        for (kind, value) in self.iter() {
            map.serialize_entry(kind.label(), value)?;
        }
        map.end()
    }
}

impl<'de, T: Deserialize<'de> + Default> Deserialize<'de> for PerKind<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(PerKindVisitor(PhantomData))
    }
}

struct PerKindVisitor<T>(PhantomData<T>);

impl<'de, T: Deserialize<'de> + Default> Visitor<'de> for PerKindVisitor<T> {
    type Value = PerKind<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a map with keys among {}", EventKind::LABELS.join(", "))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut out = PerKind::<Option<T>>::default();
        while let Some(key) = map.next_key::<String>()? {
            let kind = EventKind::from_label(&key)
                .ok_or_else(|| de::Error::unknown_field(&key, &EventKind::LABELS))?;
            if out[kind].is_some() {
                return Err(de::Error::custom(format_args!("duplicate field `{key}`")));
            }
            out[kind] = Some(map.next_value()?);
        }
        Ok(PerKind::from_fn(|kind| {
            out[kind].take().unwrap_or_default()
        }))
    }
}

impl<T: JsonSchema> JsonSchema for PerKind<T> {
    fn schema_name() -> Cow<'static, str> {
        format!("PerKind_{}", T::schema_name()).into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let value = generator.subschema_for::<T>();
        let properties: serde_json::Map<String, serde_json::Value> = EventKind::ALL
            .iter()
            .map(|kind| {
                let mut property = value.clone();
                property.insert("description".to_owned(), kind.description().into());
                (kind.label().to_owned(), property.into())
            })
            .collect();
        json_schema!({
            "description": "One value per event kind; a missing kind reads as zero.",
            "type": "object",
            "properties": properties,
            "additionalProperties": false,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_follow_all_and_round_trip() {
        for kind in EventKind::ALL {
            assert_eq!(EventKind::from_label(kind.label()), Some(kind));
            assert_eq!(
                serde_json::to_value(kind).unwrap(),
                serde_json::json!(kind.label())
            );
        }
        assert_eq!(EventKind::from_label("Twap"), None);
    }

    #[test]
    fn per_kind_serialises_as_the_map_of_labels() {
        let mut counts = PerKind::<u64>::default();
        counts[EventKind::EthFlow] = 4;
        counts[EventKind::Twap] = 5;
        let json = serde_json::to_string(&counts).unwrap();
        assert_eq!(json, r#"{"twap":5,"ethflow":4}"#);
        assert_eq!(serde_json::from_str::<PerKind<u64>>(&json).unwrap(), counts);
        assert_eq!(counts.total(), 9);
    }

    #[test]
    fn missing_kinds_default_and_unknown_or_repeated_ones_fail() {
        let only: PerKind<u32> = serde_json::from_str(r#"{"ethflow":3}"#).unwrap();
        assert_eq!((only[EventKind::Twap], only[EventKind::EthFlow]), (0, 3));
        let err = serde_json::from_str::<PerKind<u32>>(r#"{"twp":1}"#).unwrap_err();
        assert!(
            err.to_string()
                .contains("unknown field `twp`, expected `twap` or `ethflow`"),
            "{err}"
        );
        let err = serde_json::from_str::<PerKind<u32>>(r#"{"twap":1,"twap":2}"#).unwrap_err();
        assert!(err.to_string().contains("duplicate field `twap`"), "{err}");
    }

    #[test]
    fn add_map_and_iter_follow_all() {
        let mut a = PerKind::from_fn(|k| if k == EventKind::Twap { 1u64 } else { 2 });
        a.add(&PerKind::from_fn(|_| 10));
        assert_eq!(a.iter().map(|(_, v)| *v).collect::<Vec<_>>(), [11, 12]);
        let labels = a.map(|k, v| format!("{k}={v}"));
        assert_eq!(labels[EventKind::EthFlow], "ethflow=12");
    }
}
