//! VNN-LIB 1.0 parser (being written).
