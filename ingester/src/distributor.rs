//! Remote-write push endpoint (in progress).
