//! Sharding: several controller replicas split the Applications by a stable hash of
//! `namespace/name`, so each app is processed by exactly one replica. The replica's index comes
//! from configuration or, as in a StatefulSet, from the ordinal at the end of its hostname.

/// Which share of the Applications this replica processes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    /// This replica's index, `0..replicas`.
    pub index: u32,
    /// Number of replicas.
    pub replicas: u32,
}

impl Default for Shard {
    /// One replica processing everything.
    fn default() -> Self {
        Self {
            index: 0,
            replicas: 1,
        }
    }
}

/// A shard configuration that cannot work.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ShardError {
    /// Zero replicas.
    #[error("the replica count must be at least 1")]
    NoReplicas,
    /// Index out of range.
    #[error("shard {index} is out of range for {replicas} replicas (0..{replicas})")]
    OutOfRange {
        /// The index given.
        index: u32,
        /// The replica count.
        replicas: u32,
    },
    /// No index given and none in the hostname.
    #[error(
        "{replicas} replicas need this replica's shard: set it, or run in a StatefulSet whose hostname ends in -<ordinal> (hostname {hostname:?})"
    )]
    NoIndex {
        /// The replica count.
        replicas: u32,
        /// The hostname looked at.
        hostname: String,
    },
}

impl Shard {
    /// The shard from a replica count, an explicit index, or the hostname's `-<ordinal>`.
    pub fn new(replicas: u32, index: Option<u32>, hostname: &str) -> Result<Self, ShardError> {
        if replicas == 0 {
            return Err(ShardError::NoReplicas);
        }
        let index = match index {
            Some(index) => index,
            None if replicas == 1 => 0,
            None => hostname
                .rsplit_once('-')
                .and_then(|(_, ordinal)| ordinal.parse().ok())
                .ok_or_else(|| ShardError::NoIndex {
                    replicas,
                    hostname: hostname.to_owned(),
                })?,
        };
        if index >= replicas {
            return Err(ShardError::OutOfRange { index, replicas });
        }
        Ok(Self { index, replicas })
    }

    /// Whether this replica processes the app `namespace/name`.
    pub fn owns(&self, namespace: &str, name: &str) -> bool {
        self.replicas <= 1 || shard_of(namespace, name, self.replicas) == self.index
    }
}

/// The shard of an app: FNV-1a of `namespace/name`, stable across builds and platforms.
pub fn shard_of(namespace: &str, name: &str, replicas: u32) -> u32 {
    let hash = namespace
        .bytes()
        .chain(std::iter::once(b'/'))
        .chain(name.bytes())
        .fold(0xcbf29ce484222325u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x100000001b3)
        });
    u32::try_from(hash % u64::from(replicas.max(1))).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configuration() {
        let cases = [
            (1, None, "anything", Ok((0, 1))),
            (3, Some(2), "x", Ok((2, 3))),
            (3, None, "capstan-application-controller-1", Ok((1, 3))),
            (
                3,
                Some(3),
                "x",
                Err(ShardError::OutOfRange {
                    index: 3,
                    replicas: 3,
                }),
            ),
            (
                3,
                None,
                "controller-7",
                Err(ShardError::OutOfRange {
                    index: 7,
                    replicas: 3,
                }),
            ),
            (0, Some(0), "x", Err(ShardError::NoReplicas)),
        ];
        for (replicas, index, hostname, expected) in cases {
            assert_eq!(
                Shard::new(replicas, index, hostname).map(|s| (s.index, s.replicas)),
                expected,
                "{replicas} {index:?} {hostname}"
            );
        }
        assert!(matches!(
            Shard::new(2, None, "laptop"),
            Err(ShardError::NoIndex { .. })
        ));
    }

    #[test]
    fn every_app_has_exactly_one_owner_and_shares_are_even() {
        let replicas = 3;
        let shards: Vec<Shard> = (0..replicas)
            .map(|i| Shard::new(replicas, Some(i), "").unwrap())
            .collect();
        let mut per_shard = [0usize; 3];
        for i in 0..3000 {
            let name = format!("app-{i}");
            let owners: Vec<u32> = shards
                .iter()
                .filter(|s| s.owns("argocd", &name))
                .map(|s| s.index)
                .collect();
            assert_eq!(owners.len(), 1, "{name}: {owners:?}");
            per_shard[owners[0] as usize] += 1;
        }
        for count in per_shard {
            assert!((800..1200).contains(&count), "{per_shard:?}");
        }
        // Stable: the same app lands on the same shard in every build.
        assert_eq!(
            shard_of("argocd", "users-api-dev", 3),
            shard_of("argocd", "users-api-dev", 3)
        );
    }
}
