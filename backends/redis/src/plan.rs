//! What to send for a positioning, for a commit, and which members to
//! remove from a group: pure decisions, tested without a server.

use std::collections::BTreeSet;

use weir_core::{SeqNo, SeqPos, Target};

use crate::id::EntryId;
use crate::reply::Member;

/// Where a shard's reading goes after a positioning.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Start {
    /// Read entries after this id (XREAD's exclusive id; XGROUP SETID's
    /// last-delivered id).
    After(EntryId),
    /// After the key's last entry, looked up once, now (`$`).
    Tail,
}

/// Where `target` starts a shard. Seeks and rewinds to a seq are
/// inclusive: they start after the greatest id before the target.
pub fn start_of(target: Target) -> Start {
    match target {
        Target::Seq(SeqPos::Beginning) => Start::After(EntryId::ZERO),
        Target::Seq(SeqPos::End) => Start::Tail,
        Target::Seq(SeqPos::At(seq)) => Start::After(EntryId::from_seq(seq).before()),
        Target::Time(at) => {
            let ms = u64::try_from(at.unix_millis()).unwrap_or(0);
            Start::After(EntryId::at_millis(ms).before())
        }
    }
}

/// The ids a commit resuming at `resume` acknowledges: every delivered,
/// unacknowledged one before it ("processed up to and including the
/// message before `resume`"). They are taken out of `unacked`.
pub fn acks_for(unacked: &mut BTreeSet<EntryId>, resume: SeqNo) -> Vec<EntryId> {
    let keep = unacked.split_off(&EntryId::from_seq(resume));
    let acked = std::mem::replace(unacked, keep);
    acked.into_iter().collect()
}

/// The members of a group to remove (XGROUP DELCONSUMER): idle at least
/// `idle_ms` (at least 1 ms) with nothing pending, other than `me`. One
/// with entries pending stays until they are claimed from it.
pub fn idle_members<'a>(members: &'a [Member], me: &str, idle_ms: u64) -> Vec<&'a [u8]> {
    members
        .iter()
        .filter(|m| m.pending == 0 && m.idle_ms >= idle_ms.max(1) && m.name != me.as_bytes())
        .map(|m| m.name.as_slice())
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use weir_core::Timestamp;

    fn id(text: &str) -> EntryId {
        text.parse().unwrap()
    }

    #[test]
    fn targets_start_inclusively() {
        assert_eq!(start_of(Target::Seq(SeqPos::Beginning)), Start::After(EntryId::ZERO));
        assert_eq!(start_of(Target::Seq(SeqPos::End)), Start::Tail);
        let seq = id("7-2").to_seq().unwrap();
        assert_eq!(start_of(Target::Seq(SeqPos::At(seq))), Start::After(id("7-1")));
        let at = Timestamp::from_unix_millis(1_000).unwrap();
        assert_eq!(start_of(Target::Time(at)), Start::After(EntryId { ms: 999, n: u64::MAX }));
    }

    #[test]
    fn only_idle_members_with_nothing_pending_go() {
        let member =
            |name: &str, pending, idle_ms| Member { name: name.as_bytes().to_vec(), pending, idle_ms };
        let members = [
            member("me", 0, 90_000),
            member("gone", 0, 30_000),
            member("holding", 3, 90_000),
            member("busy", 0, 29_999),
        ];
        assert_eq!(idle_members(&members, "me", 30_000), [b"gone"]);
        assert_eq!(
            idle_members(&[member("fresh", 0, 0)], "me", 0),
            Vec::<&[u8]>::new(),
            "idle 0 is not idle"
        );
    }

    #[test]
    fn commit_acks_up_to_and_including() {
        let mut unacked: BTreeSet<EntryId> = [id("1-0"), id("1-1"), id("2-0"), id("3-0")].into();
        let resume = id("2-0").to_seq().unwrap().next();
        assert_eq!(acks_for(&mut unacked, resume), [id("1-0"), id("1-1"), id("2-0")]);
        assert_eq!(unacked.into_iter().collect::<Vec<_>>(), [id("3-0")]);
    }
}
