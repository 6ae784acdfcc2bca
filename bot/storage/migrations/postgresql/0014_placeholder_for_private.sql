-- A placeholder for the private lane's migration 0014 (branch private), so that this branch's numbering has no gap.
-- The integrator deletes this file when merging private's 0014 in both dialects.
SELECT 1;
