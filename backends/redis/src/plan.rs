//! What to send for a positioning and for a commit: pure decisions, tested
//! without a server.

use std::collections::BTreeSet;

use weir_core::{SeqNo, SeqPos, Target};

use crate::id::EntryId;

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
    fn commit_acks_up_to_and_including() {
        let mut unacked: BTreeSet<EntryId> = [id("1-0"), id("1-1"), id("2-0"), id("3-0")].into();
        let resume = id("2-0").to_seq().unwrap().next();
        assert_eq!(acks_for(&mut unacked, resume), [id("1-0"), id("1-1"), id("2-0")]);
        assert_eq!(unacked.into_iter().collect::<Vec<_>>(), [id("3-0")]);
    }
}
