"""Project governance, one subpackage per aggregate: `plan` (brief, success criteria, RACI,
scorecards, project as code), `registers` (hypotheses, risks, retrospectives, action items,
comments, activity), and gates, decision records and notifications."""
