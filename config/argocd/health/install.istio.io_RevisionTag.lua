-- Argo CD health of a mizzen RevisionTag: its Ready condition for the current generation. Ready=True means the
-- tag's webhook sends pods to spec.revision; Ready=False carries the safety check that refused (e.g. the revision
-- does not exist) while the tag keeps serving what it served before.
local hs = {}
if obj.metadata ~= nil and obj.metadata.deletionTimestamp ~= nil then
  hs.status = "Progressing"
  hs.message = "Deleting: mizzen removes the tag's webhook"
  return hs
end
local generation = obj.metadata and obj.metadata.generation or 0
local st = obj.status
if st == nil or st.conditions == nil or st.observedGeneration == nil or st.observedGeneration < generation then
  hs.status = "Progressing"
  hs.message = "Waiting for mizzen to reconcile generation " .. tostring(generation)
  return hs
end
for _, c in ipairs(st.conditions) do
  if c.type == "Ready" then
    if c.status == "True" then
      hs.status = "Healthy"
    elseif c.status == "False" then
      hs.status = "Degraded"
    else
      hs.status = "Progressing"
    end
    hs.message = (c.reason or "") .. ": " .. (c.message or "")
    return hs
  end
end
hs.status = "Progressing"
hs.message = "Waiting for the Ready condition"
return hs
