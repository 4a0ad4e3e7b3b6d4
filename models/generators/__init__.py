"""Seeded generators of the synthetic data two topologies train on: captioned fashion scenes (one to many) and
camera-motion clips over real photos (many to many, synced). Pure, and free of training code, because the pages
draw new scenes and film new clips with them too; the data sets built from them (split, cached, described) are in
training/data."""
