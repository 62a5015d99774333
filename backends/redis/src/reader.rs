//! The thread that reads a consumer's entries.
//!
//! Each consumer has one thread and one connection that waits in XREAD /
//! XREADGROUP `BLOCK` (so no executor thread ever blocks on Redis). It
//! applies positionings between two reads, claims dead members' entries
//! (LoadBalanced) between two reads, and stops after the read under way
//! when the consumer is dropped: within `block.ms`. Acknowledgements go on
//! another connection (see `consumer.rs`), so they never wait behind a read.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use redis::{ConnectionLike, Value};
use weir_core::{BackendError, ConsumerMode, Message, Payload, ShardId, StreamKey, StreamShard};

use crate::conn::Target;
use crate::error::{failed, is_contact_lost, is_nogroup, RedisError};
use crate::id::{EntryId, Stamps};
use crate::layout::Layout;
use crate::options::RedisOptions;
use crate::plan::{idle_members, start_of, Start};
use crate::reply::{autoclaim_reply, entries_of, members_reply, read_reply, Entry};
use crate::shared::{Event, Request, Shared};

/// The group a group-mode consumer reads in, and its name in it.
#[derive(Clone, Debug)]
pub(crate) struct Membership {
    pub(crate) group: String,
    pub(crate) consumer: String,
}

/// What the thread needs, handed over at its start.
pub(crate) struct Reader {
    pub(crate) shared: Arc<Shared>,
    pub(crate) target: Target,
    pub(crate) options: Arc<RedisOptions>,
    pub(crate) layout: Layout,
    pub(crate) streams: Vec<StreamKey>,
    pub(crate) mode: ConsumerMode,
    pub(crate) membership: Option<Membership>,
    pub(crate) limit: usize,
}

/// Where one key's reading stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Cursor {
    /// RealTime: entries after this id.
    After(EntryId),
    /// Group modes: this consumer's own pending entries after this id, first.
    Pending(EntryId),
    /// Group modes: entries never delivered to the group (`>`).
    New,
}

/// Why the loop stops.
enum Stop {
    Dropped,
    Failed(BackendError),
}

/// A failed command: contact lost (worth a reconnect) or a final error.
enum Failure {
    Contact(redis::RedisError, &'static str),
    Final(BackendError),
}

impl From<RedisError> for Failure {
    fn from(err: RedisError) -> Self {
        Failure::Final(err.into())
    }
}

/// Sends `command` and returns its reply as decoded; an error reply is an
/// error. Unlike `Cmd::query`, which walks the whole reply again looking
/// for errors nested in it (as much work per entry as decoding it), only
/// the reply itself is checked: a nested error, which these commands do not
/// give, is an unexpected reply to whoever reads it.
fn request(conn: &mut redis::Connection, command: &redis::Cmd) -> redis::RedisResult<Value> {
    match conn.req_command(command)? {
        Value::ServerError(err) => Err(err.into()),
        reply => Ok(reply),
    }
}

/// Runs `command`, classifying a failure as lost contact or final.
fn query(conn: &mut redis::Connection, command: &redis::Cmd, doing: &'static str) -> Result<Value, Failure> {
    request(conn, command).map_err(|err| {
        if is_contact_lost(&err) {
            Failure::Contact(err, doing)
        } else {
            Failure::Final(failed(doing, &err))
        }
    })
}

/// The command `name`, made in `slot`'s buffers (taken; put them back).
fn reused(slot: &mut redis::Cmd, name: &str) -> redis::Cmd {
    let mut command = std::mem::replace(slot, redis::Cmd::new());
    command.clear();
    command.arg(name);
    command
}

/// Starts the thread; it ends when the consumer stops it or fails.
pub(crate) fn spawn(reader: Reader) -> std::io::Result<()> {
    std::thread::Builder::new().name("weir-redis-reader".into()).spawn(move || reader.run())?;
    Ok(())
}

struct Running {
    conn: redis::Connection,
    /// Redis key → its shard, and where its reading stands.
    cursors: BTreeMap<String, (StreamShard, Cursor)>,
    last_claim: Option<Instant>,
    entries: Vec<Entry>,
    /// The messages of the last delivery, handed over by swapping (with
    /// the capacity the consumer left): no allocation a read.
    messages: Vec<Message>,
    /// The last read's command, its buffers kept for the next.
    command: redis::Cmd,
    /// Streams found to use `k:N` keys: an assigned shard not read before
    /// is named like its siblings.
    sharded: BTreeSet<StreamKey>,
}

impl Reader {
    fn run(self) {
        let stop = match self.connect_and_start() {
            Ok(mut running) => self.serve(&mut running),
            Err(Failure::Final(err)) => Stop::Failed(err),
            Err(Failure::Contact(err, doing)) => Stop::Failed(failed(doing, &err)),
        };
        if let Stop::Failed(err) = stop {
            self.shared.report(Event::Fatal(err));
        }
    }

    fn connect(&self) -> Result<redis::Connection, Failure> {
        self.target.connect(self.options.block).map_err(Failure::Final)
    }

    /// Connects, finds the shard keys, makes the groups, pins RealTime tails.
    fn connect_and_start(&self) -> Result<Running, Failure> {
        let mut conn = self.connect()?;
        let mut cursors = BTreeMap::new();
        let mut sharded_streams = BTreeSet::new();
        for stream in &self.streams {
            for (shard, sharded) in self.shards_of(&mut conn, stream)? {
                let key = self.layout.key(stream, shard, sharded);
                cursors.insert(key, ((stream.clone(), shard), Cursor::New));
                if sharded {
                    sharded_streams.insert(stream.clone());
                }
            }
        }
        let mut running = Running {
            conn,
            cursors,
            last_claim: None,
            entries: Vec::new(),
            messages: Vec::new(),
            command: redis::Cmd::new(),
            sharded: sharded_streams,
        };
        let keys: Vec<String> = running.cursors.keys().cloned().collect();
        for key in &keys {
            let cursor = match &self.membership {
                Some(member) => {
                    let start = if self.options.group_from_beginning { "0" } else { "$" };
                    self.create_group(&mut running.conn, key, &member.group, start)?;
                    Cursor::Pending(EntryId::ZERO)
                }
                None => Cursor::After(self.tail(&mut running.conn, key)?),
            };
            if let Some(entry) = running.cursors.get_mut(key) {
                entry.1 = cursor;
            }
        }
        let shards: Vec<StreamShard> = running.cursors.values().map(|(shard, _)| shard.clone()).collect();
        {
            let mut state = self.shared.lock();
            state.keys =
                running.cursors.iter().map(|(key, (shard, _))| (shard.clone(), key.clone())).collect();
        }
        self.shared.report(Event::Assigned(shards));
        Ok(running)
    }

    /// The shards of `stream`, and whether it uses `k:N` keys.
    fn shards_of(
        &self,
        conn: &mut redis::Connection,
        stream: &StreamKey,
    ) -> Result<Vec<(ShardId, bool)>, Failure> {
        if let Some(count) = self.options.shards {
            return Ok((0..count).map(|n| (ShardId(n), true)).collect());
        }
        let found = find_shards(conn, &self.layout, stream)?;
        Ok(if found.is_empty() {
            vec![(ShardId::ZERO, false)]
        } else {
            found.into_iter().map(|s| (s, true)).collect()
        })
    }

    fn create_group(
        &self,
        conn: &mut redis::Connection,
        key: &str,
        group: &str,
        at: &str,
    ) -> Result<(), Failure> {
        let mut command = redis::cmd("XGROUP");
        command.arg("CREATE").arg(key).arg(group).arg(at).arg("MKSTREAM");
        match command.query::<Value>(conn) {
            Ok(_) => Ok(()),
            Err(err) if err.code() == Some("BUSYGROUP") => Ok(()),
            Err(err) if is_contact_lost(&err) => Err(Failure::Contact(err, "creating the consumer group")),
            Err(err) => Err(Failure::Final(failed(&format!("creating group {group} on key {key}"), &err))),
        }
    }

    /// The id of `key`'s last entry (`0-0` for an empty or absent key).
    fn tail(&self, conn: &mut redis::Connection, key: &str) -> Result<EntryId, Failure> {
        let mut command = redis::cmd("XREVRANGE");
        command.arg(key).arg("+").arg("-").arg("COUNT").arg(1);
        let reply =
            query(conn, &command, "looking up a stream's last entry").map_err(|f| name_key(f, key))?;
        let mut last = Vec::new();
        entries_of("XREVRANGE", key, reply, &mut last)?;
        Ok(last.first().map_or(EntryId::ZERO, |entry| entry.id))
    }

    fn serve(&self, running: &mut Running) -> Stop {
        let mut lost: Option<Instant> = None;
        loop {
            let outcome = self.step(running);
            match outcome {
                Ok(true) => lost = None,
                Ok(false) => return Stop::Dropped,
                Err(Failure::Final(err)) => return Stop::Failed(err),
                Err(Failure::Contact(err, doing)) => {
                    // Contact lost: reconnect until the connect timeout has
                    // passed since the loss, then fail clearly.
                    let since = *lost.get_or_insert_with(Instant::now);
                    if since.elapsed() >= self.options.connect_timeout {
                        return Stop::Failed(failed(doing, &err));
                    }
                    std::thread::sleep(Duration::from_millis(100).min(self.options.block));
                    if self.shared.lock().stopped {
                        return Stop::Dropped;
                    }
                    if let Ok(conn) = self.connect() {
                        running.conn = conn;
                    }
                }
            }
        }
    }

    /// One round: a positioning, a claim, one read. `Ok(false)` once stopped.
    fn step(&self, running: &mut Running) -> Result<bool, Failure> {
        let request = {
            let mut state = self.shared.lock();
            loop {
                if state.stopped {
                    return Ok(false);
                }
                if state.request.is_some() {
                    break state.request.take();
                }
                if !state.paused && state.messages.len() < self.limit {
                    break None;
                }
                state = self.shared.wait(state, self.options.block);
            }
        };
        if let Some(request) = request {
            let epoch = request.epoch;
            let result = self.position(running, request);
            let outcome = match result {
                Ok(()) => Ok(()),
                Err(Failure::Final(err)) => Err(err),
                Err(Failure::Contact(err, doing)) => Err(failed(doing, &err)),
            };
            self.shared.report(Event::Positioned(epoch, outcome));
            return Ok(true);
        }
        if self.mode == ConsumerMode::LoadBalanced {
            self.claim_if_due(running)?;
        }
        self.read(running)?;
        Ok(true)
    }

    /// Applies a rewind or seek. RealTime: each target shard's cursor moves.
    /// Group modes: XGROUP SETID moves the group's position on every shard,
    /// for every member (documented in docs/redis.md).
    fn position(&self, running: &mut Running, request: Request) -> Result<(), Failure> {
        let start = start_of(request.target);
        let mut cursors = BTreeMap::new();
        for shard in &request.shards {
            let key = match running.cursors.iter().find(|(_, (s, _))| s == shard) {
                Some((key, _)) => key.clone(),
                None => self.layout.key(&shard.0, shard.1, running.sharded.contains(&shard.0)),
            };
            let cursor = match (&self.membership, start) {
                (None, Start::After(id)) => Cursor::After(id),
                (None, Start::Tail) => Cursor::After(self.tail(&mut running.conn, &key)?),
                (Some(member), start) => {
                    let at = match start {
                        Start::After(id) => id.to_string(),
                        Start::Tail => "$".to_owned(),
                    };
                    let mut command = redis::cmd("XGROUP");
                    command.arg("SETID").arg(&key).arg(&member.group).arg(&at);
                    if let Err(failure) = query(&mut running.conn, &command, "moving the consumer group") {
                        match failure {
                            Failure::Final(_) => {
                                self.create_group(&mut running.conn, &key, &member.group, &at)?
                            }
                            contact => return Err(contact),
                        }
                    }
                    Cursor::New
                }
            };
            cursors.insert(key, (shard.clone(), cursor));
        }
        if self.mode != ConsumerMode::LoadBalanced {
            running.cursors = cursors;
        } else {
            running.cursors.extend(cursors);
        }
        let mut state = self.shared.lock();
        state.keys = running.cursors.iter().map(|(key, (shard, _))| (shard.clone(), key.clone())).collect();
        Ok(())
    }

    fn claim_if_due(&self, running: &mut Running) -> Result<(), Failure> {
        let due = running.last_claim.is_none_or(|last| last.elapsed() >= self.options.claim_interval);
        let Some(member) = self.membership.as_ref().filter(|_| due) else { return Ok(()) };
        running.last_claim = Some(Instant::now());
        let keys: Vec<String> = running.cursors.keys().cloned().collect();
        let idle = u64::try_from(self.options.claim_idle.as_millis()).unwrap_or(u64::MAX);
        for key in keys {
            let mut cursor = EntryId::ZERO;
            loop {
                let mut command = redis::cmd("XAUTOCLAIM");
                command.arg(&key).arg(&member.group).arg(&member.consumer).arg(idle).arg(cursor.to_string());
                command.arg("COUNT").arg(self.options.batch);
                let reply = query(&mut running.conn, &command, "claiming a dead member's entries")
                    .map_err(|f| name_key(f, &key))?;
                let mut claimed = std::mem::take(&mut running.entries);
                cursor = autoclaim_reply(&key, reply, &mut claimed)?;
                running.entries = claimed;
                self.deliver(running)?;
                if cursor == EntryId::ZERO {
                    break;
                }
            }
            self.remove_idle_members(running, &key, member, idle)?;
        }
        Ok(())
    }

    /// Removes members idle longer than the claim time with nothing pending.
    fn remove_idle_members(
        &self,
        running: &mut Running,
        key: &str,
        member: &Membership,
        idle: u64,
    ) -> Result<(), Failure> {
        let mut command = redis::cmd("XINFO");
        command.arg("CONSUMERS").arg(key).arg(&member.group);
        let reply = query(&mut running.conn, &command, "listing the group's members")?;
        let members = members_reply(reply)?;
        for name in idle_members(&members, &member.consumer, idle) {
            let mut command = redis::cmd("XGROUP");
            command.arg("DELCONSUMER").arg(key).arg(&member.group).arg(name);
            query(&mut running.conn, &command, "removing an idle member")?;
        }
        Ok(())
    }

    /// One read: this consumer's own pending entries first (group modes,
    /// after a start), else a blocking read of new ones.
    fn read(&self, running: &mut Running) -> Result<(), Failure> {
        let pending: Vec<(String, EntryId)> = running
            .cursors
            .iter()
            .filter_map(|(key, (_, cursor))| match cursor {
                Cursor::Pending(after) => Some((key.clone(), *after)),
                _ => None,
            })
            .collect();
        let (command, keys) = match (&self.membership, pending.is_empty()) {
            (Some(member), false) => {
                let mut command = reused(&mut running.command, "XREADGROUP");
                command
                    .arg("GROUP")
                    .arg(&member.group)
                    .arg(&member.consumer)
                    .arg("COUNT")
                    .arg(self.options.batch);
                command.arg("STREAMS");
                pending.iter().for_each(|(key, _)| {
                    command.arg(key);
                });
                pending.iter().for_each(|(_, after)| {
                    command.arg(after.to_string());
                });
                (command, pending.iter().map(|(key, _)| key.clone()).collect::<Vec<_>>())
            }
            (membership, _) => {
                let name = if membership.is_some() { "XREADGROUP" } else { "XREAD" };
                let mut command = reused(&mut running.command, name);
                if let Some(member) = membership {
                    command.arg("GROUP").arg(&member.group).arg(&member.consumer);
                }
                let block = u64::try_from(self.options.block.as_millis()).unwrap_or(u64::MAX).max(1);
                command.arg("COUNT").arg(self.options.batch).arg("BLOCK").arg(block).arg("STREAMS");
                running.cursors.keys().for_each(|key| {
                    command.arg(key);
                });
                running.cursors.values().for_each(|(_, cursor)| {
                    command.arg(match cursor {
                        Cursor::After(id) | Cursor::Pending(id) => id.to_string(),
                        Cursor::New => ">".to_owned(),
                    });
                });
                (command, Vec::new())
            }
        };
        let reply = request(&mut running.conn, &command);
        running.command = command;
        let reply = match reply {
            Ok(reply) => reply,
            Err(err) if is_nogroup(&err) => return self.recreate_groups(running),
            Err(err) if is_contact_lost(&err) => return Err(Failure::Contact(err, "reading entries")),
            Err(err) => return Err(Failure::Final(failed("reading entries", &err))),
        };
        let mut entries = std::mem::take(&mut running.entries);
        read_reply(if self.membership.is_some() { "XREADGROUP" } else { "XREAD" }, reply, &mut entries)?;
        // Pending reads: a key with no entry left has no pending entries any more.
        for key in keys {
            let last = entries.iter().rev().find(|e| *e.key == *key).map(|e| e.id);
            if let Some((_, cursor)) = running.cursors.get_mut(&key) {
                *cursor = last.map_or(Cursor::New, Cursor::Pending);
            }
        }
        // A key's entries come in one run sharing its name: the cursor
        // moves to the last of each run.
        for (at, entry) in entries.iter().enumerate() {
            let last_of_run = entries.get(at + 1).is_none_or(|next| !Arc::ptr_eq(&next.key, &entry.key));
            if last_of_run {
                if let Some((_, Cursor::After(id))) = running.cursors.get_mut(&*entry.key) {
                    *id = entry.id;
                }
            }
        }
        running.entries = entries;
        self.deliver(running)
    }

    /// NOGROUP: the key (and its group) was deleted. The group is made anew
    /// at the key's start, and reading goes on.
    fn recreate_groups(&self, running: &mut Running) -> Result<(), Failure> {
        let Some(member) = &self.membership else { return Ok(()) };
        let keys: Vec<String> = running.cursors.keys().cloned().collect();
        for key in keys {
            self.create_group(&mut running.conn, &key, &member.group, "0")?;
        }
        Ok(())
    }

    /// Hands the entries read to the driver, unless a positioning came in
    /// meanwhile (they are stale then).
    fn deliver(&self, running: &mut Running) -> Result<(), Failure> {
        if running.entries.is_empty() {
            return Ok(());
        }
        let mut messages = std::mem::take(&mut running.messages);
        messages.clear();
        let mut ids: Vec<(Arc<str>, EntryId)> = Vec::new();
        let mut stamps = Stamps::default();
        // The last key looked up and its shard: the entries of one key come
        // in a run sharing its name, so one lookup a run.
        let mut shard_of: Option<(Arc<str>, Option<StreamShard>)> = None;
        // Every entry before a bad one is delivered; the bad one ends the consumer.
        let mut failure = None;
        for entry in running.entries.drain(..) {
            if !shard_of.as_ref().is_some_and(|(key, _)| Arc::ptr_eq(key, &entry.key)) {
                let found = running.cursors.get(&*entry.key).map(|(shard, _)| shard.clone());
                shard_of = Some((Arc::clone(&entry.key), found));
            }
            let Some((_, Some((stream, shard)))) = &shard_of else { continue };
            let seq = match entry.id.to_seq() {
                Ok(seq) => seq,
                Err(source) => {
                    failure = Some(RedisError::Id { key: entry.key.to_string(), source });
                    break;
                }
            };
            let Some(payload) = entry.payload else {
                failure = Some(RedisError::NoPayload { key: entry.key.to_string(), id: entry.id });
                break;
            };
            let header = weir_core::MessageHeader::new(stream.clone(), *shard, seq, stamps.of(entry.id));
            messages.push(Message::new(header, Payload::from(payload)));
            if self.membership.is_some() {
                ids.push((entry.key, entry.id));
            }
        }
        let waker = {
            let mut state = self.shared.lock();
            if state.request.is_some() || state.stopped {
                running.entries.clear();
                messages.clear();
                running.messages = messages;
                return Ok(());
            }
            for (key, id) in ids {
                match state.unacked.get_mut(&*key) {
                    Some(unacked) => unacked.insert(id),
                    None => state.unacked.entry(key.to_string()).or_default().insert(id),
                };
            }
            if state.messages.is_empty() {
                // The consumer took the last ones: swap, not copy.
                std::mem::swap(&mut state.messages, &mut messages);
            } else {
                state.messages.append(&mut messages);
            }
            running.messages = messages;
            state.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
        failure.map_or(Ok(()), |err| Err(err.into()))
    }
}

/// A failure's message with the key it concerns (WRONGTYPE names no key).
fn name_key(failure: Failure, key: &str) -> Failure {
    match failure {
        Failure::Final(err) => {
            Failure::Final(BackendError::new(err.backend, err.kind, format!("key {key}: {}", err.message)))
        }
        contact => contact,
    }
}

/// The shard keys of `stream` present on the server (SCAN, not KEYS, which
/// would hold up the whole server), in shard order.
fn find_shards(
    conn: &mut redis::Connection,
    layout: &Layout,
    stream: &StreamKey,
) -> Result<Vec<ShardId>, Failure> {
    let mut found = std::collections::BTreeSet::new();
    let mut cursor = "0".to_owned();
    loop {
        let mut command = redis::cmd("SCAN");
        command
            .arg(&cursor)
            .arg("MATCH")
            .arg(layout.shard_pattern(stream))
            .arg("COUNT")
            .arg(1000)
            .arg("TYPE")
            .arg("stream");
        let reply = query(conn, &command, "looking for a stream's shard keys")?;
        let Value::Array(parts) = reply else {
            return Err(RedisError::Reply { command: "SCAN", reply: format!("{reply:?}") }.into());
        };
        let mut parts = parts.into_iter();
        let (Some(Value::BulkString(next)), Some(Value::Array(keys))) = (parts.next(), parts.next()) else {
            return Err(RedisError::Reply { command: "SCAN", reply: "not [cursor, keys]".into() }.into());
        };
        for key in keys {
            if let Value::BulkString(key) = key {
                if let Some(shard) = std::str::from_utf8(&key).ok().and_then(|k| layout.shard_of(stream, k)) {
                    found.insert(shard);
                }
            }
        }
        cursor = String::from_utf8_lossy(&next).into_owned();
        if cursor == "0" {
            return Ok(found.into_iter().collect());
        }
    }
}

/// [`find_shards`] for the producer, with failures as backend errors.
pub(crate) fn find_shards_or_fail(
    conn: &mut redis::Connection,
    layout: &Layout,
    stream: &StreamKey,
) -> Result<Vec<ShardId>, (BackendError, bool)> {
    find_shards(conn, layout, stream).map_err(|failure| match failure {
        Failure::Final(err) => (err, false),
        Failure::Contact(err, doing) => (failed(doing, &err), true),
    })
}
