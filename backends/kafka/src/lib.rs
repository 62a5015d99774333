//! weir-kafka
