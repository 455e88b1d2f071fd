//! hessian2 bytes cross-checked against hessian.js (filled in by the dubbo codec work).
