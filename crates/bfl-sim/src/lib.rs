//! bfl-sim: a faithful fake BFL server.
