"""The MongoDB store. Written for MongoDB 7 and for the embedded nx-27017 wire server alike:

- timestamps are epoch seconds (floats): nx-27017 turns datetimes written by ``$set`` into strings;
- nothing ``$push``-es sub-documents (nx-27017 stores them as JSON strings): histories are keyed maps;
- hot lookups are by ``_id`` or ``_id: {$in: [...]}``, the only ones nx-27017 serves from an index;
- state changes are single-document conditional updates naming the state they leave.
"""
