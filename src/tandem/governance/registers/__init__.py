"""The registers: a project's hypotheses, risks, retrospectives, action items, comments and its
activity feed."""
