"""The conditional beta-VAE of seed 004: encoder, decoder, training model and ager."""
