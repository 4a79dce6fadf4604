// Package nsfile owns the user-facing namespace file: parsing ADR-006's
// namespace YAML (one or more documents) into fsmpb.NamespaceSpec values with
// line-numbered errors, and rendering a stored namespace as the JSON/YAML
// view of PRODUCT.md ("JSON shapes"), with secrets in backend_config
// redacted.
//
// It works only on what callers hand it (bytes, messages): it must not read
// files, the network or a clock. Semantic rules live in fsm.ValidateSpec,
// which Parse runs on every document so the CLI and the state machine agree.
package nsfile
