//! Maintenance (`mesos/maintenance/maintenance.proto` and the parts of `mesos.proto` it uses):
//! machines, the schedule operators post, inverse offers and their replies.
//!
//! A machine is a hostname and an IP; an agent is on a machine when both its hostname and its
//! IP match (hostnames compare case-insensitively, a missing field is `""`). Operators move a
//! machine `UP` → `DRAINING` (by scheduling it) → `DOWN` (`/machine/down`) → `UP`
//! (`/machine/up`); nothing happens by the clock.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::common::{AgentID, DurationInfo, Filters, FrameworkID, OfferID, Resource, TimeInfo};
use crate::lenient::null_as_default;

/// `MachineID`: at least one of `hostname` and `ip`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct MachineID {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
}

impl MachineID {
    pub fn new(hostname: &str, ip: &str) -> MachineID {
        MachineID {
            hostname: Some(hostname.to_string()).filter(|h| !h.is_empty()),
            ip: Some(ip.to_string()).filter(|i| !i.is_empty()),
        }
    }

    /// The machine as Mesos compares it: the hostname in lower case, missing fields empty.
    pub fn normalized(&self) -> MachineID {
        MachineID::new(
            &self.hostname.as_deref().unwrap_or("").to_ascii_lowercase(),
            self.ip.as_deref().unwrap_or(""),
        )
    }

    /// A stable text key (`hostname/ip`, normalized).
    pub fn key(&self) -> String {
        let n = self.normalized();
        format!(
            "{}/{}",
            n.hostname.as_deref().unwrap_or(""),
            n.ip.as_deref().unwrap_or("")
        )
    }

    /// Mesos' `validation::machine`: a hostname or an IP, and an IP that parses.
    pub fn validate(&self) -> Result<(), String> {
        let hostname = self.hostname.as_deref().unwrap_or("");
        let ip = self.ip.as_deref().unwrap_or("");
        if hostname.is_empty() && ip.is_empty() {
            return Err("Both 'hostname' and 'ip' for a machine are empty".into());
        }
        if !ip.is_empty() && ip.parse::<std::net::IpAddr>().is_err() {
            return Err(format!("Invalid IP '{ip}' for a machine"));
        }
        Ok(())
    }
}

impl std::fmt::Display for MachineID {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.hostname.as_deref(), self.ip.as_deref()) {
            (Some(h), Some(i)) => write!(f, "{h} ({i})"),
            (Some(h), None) => f.write_str(h),
            (None, Some(i)) => f.write_str(i),
            (None, None) => f.write_str("(no hostname, no ip)"),
        }
    }
}

/// `Unavailability`: from `start`, for `duration` (forever when absent).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unavailability {
    #[serde(default, deserialize_with = "null_as_default")]
    pub start: TimeInfo,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<DurationInfo>,
}

/// `maintenance::Window`: machines unavailable together.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Window {
    #[serde(default, deserialize_with = "null_as_default")]
    pub machine_ids: Vec<MachineID>,
    /// Required; `None` only so that a missing one is reported by [`Schedule::validate`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unavailability: Option<Unavailability>,
}

/// `maintenance::Schedule`: what `/maintenance/schedule` posts and returns. No windows cancels
/// all maintenance that has not brought a machine down.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Schedule {
    #[serde(default, deserialize_with = "null_as_default")]
    pub windows: Vec<Window>,
}

impl Schedule {
    /// Mesos' `maintenance::validation::schedule`: every window has machines and an
    /// unavailability, every machine is valid and in one window at most.
    pub fn validate(&self) -> Result<(), String> {
        let mut seen = BTreeSet::new();
        for window in &self.windows {
            if window.machine_ids.is_empty() {
                return Err("List of machines in the maintenance window is empty".into());
            }
            match &window.unavailability {
                None => {
                    return Err("Maintenance window does not specify an 'unavailability'".into());
                }
                Some(u) if u.duration.as_ref().is_some_and(|d| d.nanoseconds < 0) => {
                    return Err("Unavailability 'duration' is negative".into());
                }
                Some(_) => {}
            }
            for machine in &window.machine_ids {
                machine.validate()?;
                if !seen.insert(machine.normalized()) {
                    return Err(format!(
                        "Machine '{machine}' appears more than once in the schedule"
                    ));
                }
            }
        }
        Ok(())
    }

    /// Every machine of the schedule with its window's unavailability, normalized.
    pub fn machines(&self) -> Vec<(MachineID, Unavailability)> {
        self.windows
            .iter()
            .flat_map(|w| {
                let u = w.unavailability.clone().unwrap_or_default();
                w.machine_ids
                    .iter()
                    .map(move |m| (m.normalized(), u.clone()))
            })
            .collect()
    }
}

/// Mesos' `validation::machines` for `/machine/down` and `/machine/up`: a non-empty list of
/// valid, distinct machines.
pub fn validate_machine_list(machines: &[MachineID]) -> Result<(), String> {
    if machines.is_empty() {
        return Err("List of machines is empty".into());
    }
    let mut seen = BTreeSet::new();
    for machine in machines {
        machine.validate()?;
        if !seen.insert(machine.normalized()) {
            return Err(format!(
                "Machine '{machine}' appears more than once in the list"
            ));
        }
    }
    Ok(())
}

string_enum! {
    /// `MachineInfo.Mode`.
    closed enum MachineMode {
        Up = "UP",
        Draining = "DRAINING",
        Down = "DOWN",
    }
}

string_enum! {
    /// `InverseOfferStatus.Status`.
    closed enum InverseOfferState {
        Unknown = "UNKNOWN",
        Accept = "ACCEPT",
        Decline = "DECLINE",
    }
}

/// `InverseOfferStatus`: a framework's latest answer for a machine.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InverseOfferStatus {
    pub status: InverseOfferState,
    pub framework_id: FrameworkID,
    pub timestamp: TimeInfo,
}

/// `maintenance::ClusterStatus.DrainingMachine`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DrainingMachine {
    pub id: MachineID,
    #[serde(default)]
    pub statuses: Vec<InverseOfferStatus>,
}

/// `maintenance::ClusterStatus`: `/maintenance/status`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ClusterStatus {
    #[serde(default)]
    pub draining_machines: Vec<DrainingMachine>,
    #[serde(default)]
    pub down_machines: Vec<MachineID>,
}

/// `InverseOffer`: the master asks a framework to give an agent's resources back by
/// `unavailability.start`. No `resources` means the whole agent.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InverseOffer {
    pub id: OfferID,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<crate::common::Url>,
    pub framework_id: FrameworkID,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<AgentID>,
    pub unavailability: Unavailability,
    #[serde(default)]
    pub resources: Vec<Resource>,
}

/// `Event.InverseOffers`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct InverseOffers {
    #[serde(default, deserialize_with = "null_as_default")]
    pub inverse_offers: Vec<InverseOffer>,
}

/// `Event.RescindInverseOffer`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RescindInverseOffer {
    pub inverse_offer_id: OfferID,
}

/// `Call.AcceptInverseOffers` and `Call.DeclineInverseOffers`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct InverseOfferReply {
    #[serde(default, deserialize_with = "null_as_default")]
    pub inverse_offer_ids: Vec<OfferID>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filters: Option<Filters>,
}

impl InverseOfferReply {
    /// Seconds before the master asks again (5 when `filters` is absent).
    pub fn refuse_seconds(&self) -> f64 {
        crate::common::refuse_seconds(self.filters.as_ref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedules_follow_mesos_validation() {
        let parse = |s: &str| serde_json::from_str::<Schedule>(s).unwrap();
        let ok = parse(
            r#"{"windows":[{"machine_ids":[{"hostname":"Host1","ip":"10.0.0.1"}],
            "unavailability":{"start":{"nanoseconds":1}}}]}"#,
        );
        assert_eq!(ok.validate(), Ok(()));
        assert_eq!(ok.machines()[0].0, MachineID::new("host1", "10.0.0.1"));
        let twice = parse(
            r#"{"windows":[{"machine_ids":[{"hostname":"a"}],"unavailability":{"start":{}}},
            {"machine_ids":[{"hostname":"A"}],"unavailability":{"start":{}}}]}"#,
        );
        assert!(twice.validate().unwrap_err().contains("more than once"));
        let empty = parse(r#"{"windows":[{"machine_ids":[],"unavailability":{"start":{}}}]}"#);
        assert!(empty.validate().unwrap_err().contains("empty"));
        let no_time = parse(r#"{"windows":[{"machine_ids":[{"hostname":"a"}]}]}"#);
        assert!(no_time.validate().unwrap_err().contains("unavailability"));
        let bad_ip = parse(
            r#"{"windows":[{"machine_ids":[{"ip":"10.0.0"}],"unavailability":{"start":{}}}]}"#,
        );
        assert!(bad_ip.validate().unwrap_err().contains("Invalid IP"));
        assert_eq!(parse("{}").validate(), Ok(()));
        assert!(validate_machine_list(&[]).is_err());
    }
}
