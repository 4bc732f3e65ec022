"""What the routes share, below the domains and above core: request dependencies (a domain's
service, the acting principal), route policies, body readers and response writers, and the
problem documents errors render as. `tandem.server` assembles the app and fills `app.state`
with what these read; nothing here imports the server or a domain."""
