// Package imagemove moves images between the engines of a cluster's hosts
// without a registry.
//
// Every agent reports the images its engine holds in its Node's
// status.images (Reporter: the largest api.MaxNodeImages, written only
// when the list changes). When a pod lands on a host whose engine lacks
// its image, the pod runner asks the Fetcher first: it picks the peers
// whose Node lists the image, asks one for `docker save` of the image's
// ID over the agents' mutual-TLS channel (Server serves that end, making
// one save of an image for all the peers that ask at once), and streams
// the tar into `docker load` here, checking it on the way: only
// the entries a save writes, the configuration blob's digest equal to the
// ID the peer announced, the tags set by this agent alone, a bounded
// size. A failed transfer is tried with another peer, then once more;
// then the runner falls back to the registry.
//
// The engine API saves whole images, so a transfer carries every layer,
// even those the target holds already; an image already present is never
// transferred. docs/images.md tells the whole story and its limits.
package imagemove
