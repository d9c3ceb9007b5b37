-- Sets secretloom.io/refresh-requested to the current UTC time; the
-- controller reads the stores at once when the value differs from the one it
-- last acted upon (status.refreshRequest). Requests within one second are one
-- request: Argo CD sends no patch when the value does not change.
local os = require("os")
if obj.metadata.annotations == nil then
  obj.metadata.annotations = {}
end
obj.metadata.annotations["secretloom.io/refresh-requested"] = os.date("!%Y-%m-%dT%H:%M:%SZ")
return obj
