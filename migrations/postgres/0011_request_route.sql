-- The route a request was filed on (its levels, rules and vetoes, as JSON: see
-- `domain::workflow::Route`). A city changing its configuration mid-season moves no request in
-- flight onto levels it was never meant to climb. NULL on requests filed before routes were
-- kept: they follow the configured route, as they always did.
ALTER TABLE review_requests ADD COLUMN route TEXT;
