-- A placeholder for the wait queue's migration 0013 (branch queue), so that this branch's numbering has no gap.
-- The integrator deletes this file when merging queue's 0013 in both dialects.
SELECT 1;
