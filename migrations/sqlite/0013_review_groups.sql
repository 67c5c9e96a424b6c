-- The city's 复审 (市级复审) is a state of its own: a request in it is still open, so the
-- one-open-request-per-candidate index counts it.
DROP INDEX review_one_open;
CREATE UNIQUE INDEX review_one_open ON review_requests(candidate_id)
    WHERE state IN ('pending', 'returned', 'recording', 'confirming', 'rechecking');
-- A city reviewer's 复审 同意 is a vote like an approval or a signature: one per person and
-- round.
DROP INDEX review_one_vote;
CREATE UNIQUE INDEX review_one_vote
    ON review_events(request_id, round, (COALESCE(step, -1)), user_id, action)
    WHERE action IN ('approve', 'confirm', 'recheck');
-- Requests filed before routes were kept followed the configured route, which until the
-- documents' route was the one below (`Route::before_documents`: three levels with a veto, one
-- city-wide group, no 复审). They finish on it, whatever the configuration says now.
UPDATE review_requests SET route = '{"steps":[{"name":"班主任","role":"homeroom-teacher","unit":"class","rule":"any","skip_for_city_direct":false,"may_reject":true},{"name":"校长","role":"principal","unit":"school","rule":"any","skip_for_city_direct":false,"may_reject":true},{"name":"城区","role":"district-officer","unit":"district","rule":"any","skip_for_city_direct":true,"may_reject":true}],"group":{"unit":"city","roles":["city-reviewer","inspector"],"required":[],"min_size":3},"recheck":{"enabled":false,"signatures":1,"role":"city-reviewer"}}'
    WHERE route IS NULL;
