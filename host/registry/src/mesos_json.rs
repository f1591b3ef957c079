//! The registry as Mesos serves it at `/registrar(1)/registry`: its `mesos.internal.Registry`
//! protobuf in JSON (`{"master": {"info": ...}, "slaves": {"slaves": [{"info": ...}]},
//! "unreachable": {"slaves": [{"id": ..., "timestamp": ...}]}, ...}`), built from the API
//! crate's types so the agent and master infos read as everywhere else.

use std::collections::BTreeMap;

use meseta_api::common::{AgentID, AgentInfo, MasterInfo, Scalar, TimeInfo};
use serde::{Serialize, Serializer};

use crate::model::Registry;

#[derive(Serialize)]
struct MesosRegistry<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    master: Option<Master<'a>>,
    slaves: Slaves<'a>,
    unreachable: Marked,
    gone: Marked,
    quota_configs: Vec<QuotaConfig<'a>>,
    weights: Vec<Weight<'a>>,
    machines: Machines<'a>,
    schedules: Vec<&'a meseta_api::maintenance::Schedule>,
}

#[derive(Serialize)]
struct Machines<'a> {
    machines: Vec<MachineEntry<'a>>,
}

#[derive(Serialize)]
struct MachineEntry<'a> {
    info: &'a crate::model::MachineRecord,
}

#[derive(Serialize)]
struct Master<'a> {
    info: &'a MasterInfo,
}

#[derive(Serialize)]
struct Slaves<'a> {
    slaves: Vec<Slave<'a>>,
}

#[derive(Serialize)]
struct Slave<'a> {
    info: &'a AgentInfo,
}

#[derive(Serialize)]
struct Marked {
    slaves: Vec<MarkedSlave>,
}

#[derive(Serialize)]
struct MarkedSlave {
    id: AgentID,
    timestamp: TimeInfo,
}

#[derive(Serialize)]
struct QuotaConfig<'a> {
    role: &'a str,
    guarantees: BTreeMap<&'a str, Scalar>,
    limits: BTreeMap<&'a str, Scalar>,
}

#[derive(Serialize)]
struct Weight<'a> {
    info: WeightInfo<'a>,
}

#[derive(Serialize)]
struct WeightInfo<'a> {
    role: &'a str,
    weight: f64,
}

fn time(seconds: f64) -> TimeInfo {
    // `as` saturates: a time beyond i64 nanoseconds reads as the end of time.
    TimeInfo {
        nanoseconds: (seconds * 1e9).round() as i64,
    }
}

fn marked<'a>(entries: impl Iterator<Item = (&'a String, &'a f64)>) -> Marked {
    Marked {
        slaves: entries
            .map(|(id, t)| MarkedSlave {
                id: AgentID::new(id.as_str()),
                timestamp: time(*t),
            })
            .collect(),
    }
}

fn scalars(map: &BTreeMap<String, f64>) -> BTreeMap<&str, Scalar> {
    map.iter()
        .map(|(name, value)| (name.as_str(), Scalar { value: *value }))
        .collect()
}

impl Serialize for Registry {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        MesosRegistry {
            master: self.master.as_ref().map(|info| Master { info }),
            slaves: Slaves {
                slaves: self.agents.values().map(|info| Slave { info }).collect(),
            },
            unreachable: marked(self.unreachable.iter()),
            gone: marked(self.gone.iter()),
            quota_configs: self
                .quotas
                .iter()
                .map(|(role, config)| QuotaConfig {
                    role,
                    guarantees: scalars(&config.guarantees),
                    limits: scalars(&config.limits),
                })
                .collect(),
            weights: self
                .weights
                .iter()
                .map(|(role, weight)| Weight {
                    info: WeightInfo {
                        role,
                        weight: *weight,
                    },
                })
                .collect(),
            machines: Machines {
                machines: self
                    .machines
                    .values()
                    .map(|info| MachineEntry { info })
                    .collect(),
            },
            schedules: Some(&self.schedule)
                .filter(|s| !s.windows.is_empty())
                .into_iter()
                .collect(),
        }
        .serialize(serializer)
    }
}
