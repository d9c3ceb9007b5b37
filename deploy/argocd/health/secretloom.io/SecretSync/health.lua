-- Argo CD health of a secretloom.io object (SecretSync, SecretStore,
-- ClusterSecretStore and SealedSecret share this script) from the Ready condition the
-- controller writes. Only a Ready condition computed for the current
-- generation counts: an edited spec is Progressing until the controller has
-- looked at it, so Argo CD never reports a stale Healthy after a sync.
-- Needs no useOpenLibs: base, table and Argo CD's safe os only.
local hs = {
  status = "Progressing",
  message = "Waiting for secretloom to reconcile this " .. obj.kind,
}
if obj.status == nil or obj.status.conditions == nil then
  return hs
end
for _, condition in ipairs(obj.status.conditions) do
  if condition.type == "Ready" then
    if condition.observedGeneration ~= obj.metadata.generation then
      hs.message = "Waiting for secretloom to reconcile generation " .. obj.metadata.generation
    elseif condition.status == "True" then
      hs.status = "Healthy"
      hs.message = condition.message
    elseif condition.status == "False" and condition.reason == "Pending" then
      -- A store entry's first read is running: on its way, not broken.
      hs.message = condition.message
    elseif condition.status == "False" then
      hs.status = "Degraded"
      hs.message = condition.message
      if hs.message == nil or hs.message == "" then
        hs.message = condition.reason
      end
    end
    return hs
  end
end
return hs
