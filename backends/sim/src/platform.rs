//! Virtual-time platform for the async SDK (being written).
