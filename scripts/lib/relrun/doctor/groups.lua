-- The doctor's groups, in the order they run: RELEASE.md's troubleshooting
-- sections, one line each. `name` is what --only takes; `module` returns
-- { register = function(group, ctx), needs_network = bool,
--   offline = function(group, ctx) }: under --offline a group that needs the
-- network runs only its `offline` checks (the settings), when it has them.
-- A new group is one line here and its module; a team's own copy of this
-- file (the script's lib/ folder or RELRUN_PATH) wins over relrun's.
return {
  { name = "oidc", title = "OIDC Authentication", module = "relrun.doctor.oidc" },
  { name = "codeartifact", title = "CodeArtifact Permission Denied", module = "relrun.doctor.codeartifact" },
  { name = "build", title = "Build Failures", module = "relrun.doctor.build" },
  { name = "s3", title = "S3 Upload Failures", module = "relrun.doctor.s3" },
  { name = "security", title = "Security", module = "relrun.doctor.security" },
  { name = "cloudtrail", title = "CloudTrail Monitoring", module = "relrun.doctor.cloudtrail" },
}
