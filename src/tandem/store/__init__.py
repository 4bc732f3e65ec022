"""Infrastructure: the SQL metadata store (engine, schema, migrations) and blobs."""
