-- refresh asks the controller to read a SecretSync's stores now. Only
-- SecretSyncs that name a store are polled (Kubernetes sources are watched),
-- so for the others the action is listed but disabled.
local reads_stores = obj.spec.dataFrom ~= nil and #obj.spec.dataFrom > 0
for _, entry in ipairs(obj.spec.data or {}) do
  if entry.from ~= nil and entry.from.store ~= nil then
    reads_stores = true
  end
end
return {refresh = {disabled = not reads_stores}}
