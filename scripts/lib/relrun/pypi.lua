-- relrun.pypi: Python distributions and the indexes they are published to.
--
-- One table over the four parts, so scripts need a single require:
--   relrun.pypi.metadata   file names, names, core metadata, RECORD
--   relrun.pypi.upload     the legacy upload form as twine 4.0.2 sends it
--   relrun.pypi.index      reading PEP 503 / PEP 691 simple indexes
--   relrun.pypi.localrepo  the local folder repository (default target)
local metadata = require "relrun.pypi.metadata"
local upload = require "relrun.pypi.upload"
local index = require "relrun.pypi.index"
local localrepo = require "relrun.pypi.localrepo"

return {
  metadata = metadata, upload_api = upload, index = index, localrepo = localrepo,

  normalize = metadata.normalize,
  safe_name = metadata.safe_name,
  parse_filename = metadata.parse_filename,
  parse_wheel_filename = metadata.parse_wheel_filename,
  parse_sdist_filename = metadata.parse_sdist_filename,
  read_metadata = metadata.read,
  parse_metadata = metadata.parse,
  metadata_problems = metadata.problems,
  verify_record = metadata.verify_record,

  digests = upload.digests,
  form = upload.form,
  upload = upload.upload,

  index_files = index.files,

  publish_local = localrepo.publish,
  local_index_url = localrepo.index_url,
}
