//! Configuration in: Kubernetes objects and the endpoint list (filled in by the compiler work).
