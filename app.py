"""MNIST Lab: placeholder router (the pages come with the app issue)."""

import streamlit as st

import mnist


@st.cache_resource
def dataset():
    return mnist.load_mnist()


train, test = dataset()
st.title("MNIST Lab")
st.write(f"{len(train):,} training and {len(test):,} test digits loaded.")
