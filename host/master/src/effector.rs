//! The effector: carries out the core's effects, in the order of the transitions that made
//! them, on a thread of its own that owns the allocator.
//!
//! A handler applies its input to the core under the state lock and takes the effects out as
//! one numbered batch; it sends the batch here after releasing the lock. Batches can arrive out
//! of order (two handlers race between unlock and send), so they are put back in order by
//! number before anything is done. Scheduler events go to the frameworks' subscription streams,
//! messages to the agents' ordered outboxes, allocator calls to the allocator (a Wasm module or
//! the native DRF), registry operations to the registry writer, and the lost-agent hook to the
//! master's hooks. Allocation rounds run here too, between batches; their decisions go back into
//! the core as an input. Nothing here holds the state lock, so a slow module delays offers, never
//! the master's answers.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::body::Bytes;
use meseta_api::scheduler::Event;
use meseta_types::allocation as alloc;
use tokio::sync::{Notify, mpsc, oneshot};

use crate::agents::{self, HttpClient};
use crate::allocator::{AllocatorDriver, AllocatorView};
use crate::core::Effect;

/// A subscription stream: the channel its response body reads, and its heartbeat task.
pub struct Conn {
    pub stream_id: String,
    pub events: mpsc::UnboundedSender<Bytes>,
    pub heartbeat: tokio::task::AbortHandle,
}

impl Drop for Conn {
    fn drop(&mut self) {
        self.heartbeat.abort();
    }
}

/// Streams prepared by SUBSCRIBE handlers (the sending side of each response body), by stream
/// id, until the core's `OpenStream` makes one a framework's.
pub type PreparedStreams = Arc<Mutex<HashMap<String, mpsc::UnboundedSender<Bytes>>>>;

/// Requests for an allocation round soon, counted: the allocation loop skips a wake-up whose
/// requests all came before the round it last ran (that round saw their effects).
#[derive(Default)]
pub struct AllocateSoon {
    pub notify: Notify,
    requests: std::sync::atomic::AtomicU64,
}

impl AllocateSoon {
    pub fn request(&self) {
        self.requests
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        self.notify.notify_one();
    }

    /// How many requests there have been.
    pub fn requests(&self) -> u64 {
        self.requests.load(std::sync::atomic::Ordering::Acquire)
    }
}

/// Work for the effector.
pub enum Job {
    /// The effects of one transition, numbered in the order of the transitions.
    Effects { seq: u64, effects: Vec<Effect> },
    /// One allocation round; the decisions are sent back.
    Allocate(oneshot::Sender<Vec<alloc::Offer>>),
    /// Ends every subscription stream (the master stops).
    CloseStreams,
    /// Starts a shadow allocator from the live allocator's state; the reply says whether it
    /// took the state.
    AddShadow {
        choice: crate::allocator::AllocatorChoice,
        source: crate::allocator::AllocatorSource,
        reply: oneshot::Sender<Result<(), String>>,
    },
    /// Stops a shadow allocator; the reply says whether one of that name ran.
    RemoveShadow {
        name: String,
        reply: oneshot::Sender<bool>,
    },
    /// Replaces the live allocator between two rounds.
    SwapAllocator {
        choice: crate::allocator::AllocatorChoice,
        /// What names the choice for a restarted master.
        source: crate::allocator::AllocatorSource,
        /// The outcome, and the record for the registry (the caller stores it before it
        /// answers).
        reply: oneshot::Sender<(
            Result<crate::allocator::Swap, crate::allocator::Swap>,
            Option<meseta_registry::AllocatorRecord>,
        )>,
    },
}

/// Encodes an event as one RecordIO record.
pub fn record(event: &Event) -> Option<Bytes> {
    match meseta_api::recordio::encode(event) {
        Ok(bytes) => Some(Bytes::from(bytes)),
        Err(e) => {
            tracing::error!(error = %e, event = event.type_name(), "cannot encode an event");
            None
        }
    }
}

/// Bytes of events an operator stream may have waiting before it is dropped as too slow
/// (about 20,000 task events; a reader that keeps up holds a few chunks at most).
pub const OPERATOR_STREAM_BUFFER: usize = 8 << 20;

/// The sending side of an operator stream's queue: unbounded as a channel, bounded by the
/// bytes it holds unread (a count of chunks would punish a stream for the master's batching).
#[derive(Clone, Debug)]
pub struct OperatorQueue {
    tx: mpsc::UnboundedSender<Bytes>,
    queued: Arc<std::sync::atomic::AtomicUsize>,
    limit: usize,
}

/// Why a chunk was not queued.
#[derive(Debug, PartialEq, Eq)]
pub enum QueueError {
    /// The stream holds `limit` bytes unread.
    Full,
    /// The stream ended.
    Closed,
}

impl OperatorQueue {
    pub fn try_send(&self, chunk: Bytes) -> Result<(), QueueError> {
        use std::sync::atomic::Ordering::Relaxed;
        if self.tx.is_closed() {
            return Err(QueueError::Closed);
        }
        let len = chunk.len();
        if self.queued.load(Relaxed) + len > self.limit {
            return Err(QueueError::Full);
        }
        self.queued.fetch_add(len, Relaxed);
        self.tx.send(chunk).map_err(|_| QueueError::Closed)
    }

    pub fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }
}

/// The receiving side of an operator stream's queue.
pub struct OperatorQueueRx {
    rx: mpsc::UnboundedReceiver<Bytes>,
    queued: Arc<std::sync::atomic::AtomicUsize>,
}

impl OperatorQueueRx {
    fn taken(&self, chunk: Bytes) -> Bytes {
        self.queued
            .fetch_sub(chunk.len(), std::sync::atomic::Ordering::Relaxed);
        chunk
    }

    pub async fn recv(&mut self) -> Option<Bytes> {
        let chunk = self.rx.recv().await?;
        Some(self.taken(chunk))
    }

    pub fn try_recv(&mut self) -> Option<Bytes> {
        let chunk = self.rx.try_recv().ok()?;
        Some(self.taken(chunk))
    }

    pub fn is_empty(&self) -> bool {
        self.rx.is_empty()
    }
}

/// A queue for one operator stream that holds at most `limit` bytes unread.
pub fn operator_queue(limit: usize) -> (OperatorQueue, OperatorQueueRx) {
    let (tx, rx) = mpsc::unbounded_channel();
    let queued = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    (
        OperatorQueue {
            tx,
            queued: queued.clone(),
            limit,
        },
        OperatorQueueRx { rx, queued },
    )
}

/// Sends a batch of operator events (RecordIO records, each with who may see it) to every
/// operator subscriber, as one chunk each: the events it may see, in order. Subscribers that
/// see all of them share one buffer. A subscriber that holds [`OPERATOR_STREAM_BUFFER`] bytes
/// unread is dropped (its stream ends) rather than buffered without bound or waited for; a
/// closed one is forgotten. The number dropped as too slow.
pub fn fan_out(
    subscribers: &mut Vec<crate::core::OperatorSubscriber>,
    batch: &[(Bytes, crate::core::EventScope)],
) -> usize {
    let concat = |records: &mut dyn Iterator<Item = &Bytes>| -> Bytes {
        let parts: Vec<&Bytes> = records.collect();
        match parts.as_slice() {
            [one] => (*one).clone(),
            _ => {
                let mut out = Vec::with_capacity(parts.iter().map(|b| b.len()).sum());
                for part in parts {
                    out.extend_from_slice(part);
                }
                Bytes::from(out)
            }
        }
    };
    let mut everything: Option<Bytes> = None;
    let mut slow = 0;
    subscribers.retain(|subscriber| {
        let sees =
            |(_, scope): &&(Bytes, crate::core::EventScope)| subscriber.approver.event(scope);
        let chunk = if batch.iter().all(|e| sees(&e)) {
            everything
                .get_or_insert_with(|| concat(&mut batch.iter().map(|(b, _)| b)))
                .clone()
        } else {
            let mut visible = batch.iter().filter(sees).map(|(b, _)| b).peekable();
            if visible.peek().is_none() {
                return !subscriber.tx.is_closed();
            }
            concat(&mut visible)
        };
        match subscriber.tx.try_send(chunk) {
            Ok(()) => true,
            Err(QueueError::Full) => {
                slow += 1;
                false
            }
            Err(QueueError::Closed) => false,
        }
    });
    if slow > 0 {
        tracing::warn!(
            streams = slow,
            buffered = OPERATOR_STREAM_BUFFER,
            "dropped operator event streams that did not keep up"
        );
    }
    slow
}

/// A v1 operator event as one RecordIO record.
pub fn operator_record(event: &serde_json::Value) -> Option<Bytes> {
    match meseta_api::recordio::encode(event) {
        Ok(bytes) => Some(Bytes::from(bytes)),
        Err(e) => {
            tracing::error!(error = %e, "cannot encode an operator event");
            None
        }
    }
}

/// HEARTBEAT every `interval` on a stream, the first one `interval` after SUBSCRIBED (which
/// is followed by one at once).
fn spawn_heartbeat(
    events: mpsc::UnboundedSender<Bytes>,
    interval: std::time::Duration,
) -> tokio::task::AbortHandle {
    let beats = tokio::spawn(async move {
        let Some(beat) = record(&Event::Heartbeat) else {
            return;
        };
        let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
        loop {
            ticker.tick().await;
            if events.send(beat.clone()).is_err() {
                break;
            }
        }
    });
    beats.abort_handle()
}

pub struct Effector {
    /// This master's id: every message to an agent names it (`wire::MASTER_ID_HEADER`).
    pub master_id: String,
    pub allocator: AllocatorDriver,
    /// Candidates beside the live allocator: they get its calls and its rounds' offers.
    pub shadows: crate::shadow::Shadows,
    pub view: Arc<Mutex<AllocatorView>>,
    pub prepared: PreparedStreams,
    pub client: HttpClient,
    pub registry: mpsc::UnboundedSender<meseta_registry::Operation>,
    pub allocate_soon: Arc<AllocateSoon>,
    pub hooks: Arc<meseta_hooks::MasterHookChain>,
    /// The core's start: the allocator's clock.
    pub start: Instant,
    /// HEARTBEAT events go to every stream this often.
    pub heartbeat_interval: std::time::Duration,
}

struct Running {
    fx: Effector,
    streams: HashMap<String, Conn>,
    outboxes: HashMap<String, mpsc::UnboundedSender<(&'static str, Vec<u8>)>>,
    next_seq: u64,
    waiting: BTreeMap<u64, Vec<Effect>>,
    /// The operators' event streams (v1 operator `SUBSCRIBE`).
    operator: Vec<crate::core::OperatorSubscriber>,
    /// Their events of the batch being carried out, sent together at its end.
    operator_batch: Vec<(Bytes, crate::core::EventScope)>,
    /// Their size.
    operator_batch_bytes: usize,
}

/// How many bytes of operator events the effector gathers from queued jobs before it sends
/// them (the streams' chunks stay well under the 8 MiB a stream may hold).
const OPERATOR_BATCH_BYTES: usize = 256 << 10;
/// How many queued jobs at most join one batch of operator events.
const OPERATOR_BATCH_JOBS: usize = 1024;

impl Effector {
    /// Starts the effector's thread; it ends when every sender of its jobs is gone. `runtime`
    /// is the master's: the agents' outboxes run on it.
    pub fn spawn(
        self,
        runtime: tokio::runtime::Handle,
    ) -> std::io::Result<std::sync::mpsc::Sender<Job>> {
        let (tx, rx) = std::sync::mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("meseta-effector".into())
            .spawn(move || {
                let _runtime = runtime.enter();
                let mut running = Running {
                    fx: self,
                    streams: HashMap::new(),
                    outboxes: HashMap::new(),
                    next_seq: 0,
                    waiting: BTreeMap::new(),
                    operator: Vec::new(),
                    operator_batch: Vec::new(),
                    operator_batch_bytes: 0,
                };
                while let Ok(job) = rx.recv() {
                    // Shadows wait while the effector works (see `Shadows::busy`).
                    running.fx.shadows.busy();
                    running.job(job);
                    // Jobs already queued behind it join its operator events: under a burst,
                    // each stream then gets one chunk for many jobs instead of one per job.
                    // Bounded in jobs and bytes, so that a queue that never empties does not
                    // hold the events back.
                    let mut joined = 0;
                    while joined < OPERATOR_BATCH_JOBS
                        && running.operator_batch_bytes < OPERATOR_BATCH_BYTES
                        && let Ok(job) = rx.try_recv()
                    {
                        running.job(job);
                        joined += 1;
                    }
                    running.flush_operator_events();
                    running.fx.shadows.idle();
                }
            })?;
        Ok(tx)
    }
}

impl Running {
    fn job(&mut self, job: Job) {
        match job {
            Job::Effects { seq, effects } => {
                self.waiting.insert(seq, effects);
                while let Some(effects) = self.waiting.remove(&self.next_seq) {
                    self.next_seq += 1;
                    for effect in effects {
                        self.effect(effect);
                    }
                }
                self.fx.shadows.flush();
                self.refresh_view();
            }
            Job::Allocate(reply) => {
                let now_ms = self.fx.start.elapsed().as_millis() as u64;
                let decisions = self.fx.allocator.allocate(now_ms);
                self.fx.shadows.round(now_ms, &decisions);
                self.refresh_view();
                self.store_allocator();
                let _ = reply.send(decisions);
            }
            Job::SwapAllocator {
                choice,
                source,
                reply,
            } => {
                let now_ms = self.fx.start.elapsed().as_millis() as u64;
                let outcome = self.fx.allocator.swap(choice, source, now_ms);
                if let Ok(mut view) = self.fx.view.lock() {
                    *view = self.fx.allocator.view();
                }
                let _ = reply.send((outcome, self.fx.allocator.take_record()));
            }
            Job::AddShadow {
                choice,
                source,
                reply,
            } => {
                let now_ms = self.fx.start.elapsed().as_millis() as u64;
                let replay = self.fx.allocator.mirror().replay(now_ms);
                let (started, outcome) = oneshot::channel();
                match self.fx.shadows.add(choice, source, replay, Some(started)) {
                    // The shadow's thread answers once it took the state.
                    Ok(()) => {
                        tokio::spawn(async move {
                            let answer = outcome.await.unwrap_or_else(|_| {
                                Err("the shadow allocator's thread ended".into())
                            });
                            let _ = reply.send(answer);
                        });
                    }
                    Err(e) => {
                        let _ = reply.send(Err(e));
                    }
                }
            }
            Job::RemoveShadow { name, reply } => {
                let _ = reply.send(self.fx.shadows.remove(&name).is_some());
            }
            Job::CloseStreams => {
                self.streams.clear();
                if let Ok(mut prepared) = self.fx.prepared.lock() {
                    prepared.clear();
                }
            }
        }
    }

    /// Sends the operator events gathered since the last flush.
    fn flush_operator_events(&mut self) {
        if !self.operator_batch.is_empty() {
            fan_out(&mut self.operator, &self.operator_batch);
            self.operator_batch.clear();
            self.operator_batch_bytes = 0;
        }
    }

    /// A swap, a refusal or a roll-back goes to the registry, in order with its other writes.
    fn store_allocator(&mut self) {
        if let Some(record) = self.fx.allocator.take_record() {
            let _ = self
                .fx
                .registry
                .send(meseta_registry::Operation::SetAllocator(record));
        }
    }

    fn refresh_view(&self) {
        if let Ok(mut view) = self.fx.view.lock() {
            let stats = &self.fx.allocator.stats;
            if view.stats.runs != stats.runs
                || view.stats.event_faults != stats.event_faults
                || view.degraded != self.fx.allocator.degraded()
                || view.name != self.fx.allocator.name()
            {
                *view = self.fx.allocator.view();
            }
        }
    }

    fn effect(&mut self, effect: Effect) {
        match effect {
            Effect::Event {
                framework_id,
                event,
            } => {
                if let Some(conn) = self.streams.get(&framework_id)
                    && let Some(bytes) = record(&event)
                {
                    let _ = conn.events.send(bytes);
                }
            }
            Effect::OpenStream {
                framework_id,
                stream_id,
            } => {
                let conn = self
                    .fx
                    .prepared
                    .lock()
                    .ok()
                    .and_then(|mut p| p.remove(&stream_id));
                match conn {
                    Some(events) => {
                        let heartbeat = spawn_heartbeat(events.clone(), self.fx.heartbeat_interval);
                        let conn = Conn {
                            stream_id,
                            events,
                            heartbeat,
                        };
                        self.streams.insert(framework_id, conn);
                    }
                    None => {
                        tracing::debug!(framework = %framework_id, stream = %stream_id,
                            "subscription stream already closed");
                        self.streams.remove(&framework_id);
                    }
                }
            }
            Effect::CloseStream {
                framework_id,
                stream_id,
                error,
            } => {
                if self
                    .streams
                    .get(&framework_id)
                    .is_some_and(|c| c.stream_id == stream_id)
                    && let Some(conn) = self.streams.remove(&framework_id)
                    && let Some(message) = error
                    && let Some(bytes) = record(&Event::error(message))
                {
                    let _ = conn.events.send(bytes);
                }
            }
            Effect::LinkAgent { agent_id, endpoint } => {
                let outbox = agents::spawn_outbox(
                    self.fx.client.clone(),
                    self.fx.master_id.clone(),
                    agent_id.clone(),
                    endpoint,
                );
                self.outboxes.insert(agent_id, outbox);
            }
            Effect::UnlinkAgent { agent_id } => {
                self.outboxes.remove(&agent_id);
            }
            Effect::ToAgent { agent_id, message } => match self.outboxes.get(&agent_id) {
                Some(outbox) => {
                    let _ = outbox.send((message.path(), message.encode()));
                }
                None => tracing::debug!(agent = %agent_id, path = message.path(),
                    "message for an agent without an outbox dropped"),
            },
            Effect::Allocator(call) => {
                if !self.fx.shadows.is_empty() {
                    self.fx.shadows.call(&call);
                }
                self.fx.allocator.apply(call)
            }
            Effect::Registry(op) => {
                let _ = self.fx.registry.send(op);
            }
            Effect::AgentLostHook { agent_id, info } => {
                crate::hooks::agent_lost(&self.fx.hooks, &agent_id, &info);
            }
            Effect::AllocateSoon => self.fx.allocate_soon.request(),
            Effect::OperatorSubscribe {
                subscriber,
                subscribed,
            } => {
                // The events before the subscription are not the new subscriber's.
                self.flush_operator_events();
                if subscriber.tx.try_send(subscribed).is_ok() {
                    self.operator.push(subscriber);
                }
            }
            Effect::Operator { event, scope } => {
                if let Some(bytes) = operator_record(&event) {
                    self.operator_batch_bytes += bytes.len();
                    self.operator_batch.push((bytes, scope));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_subscriber_that_does_not_read_is_dropped_and_the_others_are_served() {
        // Room for two events of four bytes each.
        let (reader, mut read) = operator_queue(8);
        let (stuck, _never_read) = operator_queue(8);
        let (gone, closed) = operator_queue(8);
        drop(closed);
        let everyone = std::sync::Arc::new(crate::security::Approver::everyone());
        let mut subscribers: Vec<_> = [reader, stuck, gone]
            .into_iter()
            .map(|tx| crate::core::OperatorSubscriber {
                tx,
                approver: everyone.clone(),
            })
            .collect();
        let event = Bytes::from_static(b"2\n{}");
        let batch = [(event.clone(), crate::core::EventScope::Cluster)];
        assert_eq!(fan_out(&mut subscribers, &batch), 0);
        assert_eq!(subscribers.len(), 2, "the closed one is forgotten");
        assert_eq!(read.try_recv().unwrap(), event);
        assert_eq!(fan_out(&mut subscribers, &batch), 0);
        assert_eq!(read.try_recv().unwrap(), event);
        // `stuck` now holds eight unread bytes: the third event drops it, `reader` gets it.
        assert_eq!(fan_out(&mut subscribers, &batch), 1);
        assert_eq!(subscribers.len(), 1);
        assert_eq!(read.try_recv().unwrap(), event);
        // A batch of two goes out as one chunk, and the reader's room is free again.
        let two = [batch[0].clone(), batch[0].clone()];
        assert_eq!(fan_out(&mut subscribers, &two), 0);
        assert_eq!(read.try_recv().unwrap(), Bytes::from_static(b"2\n{}2\n{}"));
    }
}
