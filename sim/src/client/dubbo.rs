//! The Dubbo client (filled in with the dubbo codec).
