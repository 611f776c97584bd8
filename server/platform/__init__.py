"""What every job stands on: database, migrations, models, crypto, blobs, clock, audit, errors, TLS."""
