//! weir facade (filled below).
