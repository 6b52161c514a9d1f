package config

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Redacted renders the effective configuration as YAML in the example file's
// key order, with every secret replaced by [redacted]. The output loads back
// as a config file (posd config dump > posd.yaml).
func (c Config) Redacted() string {
	root := &yaml.Node{Kind: yaml.MappingNode}
	sections := map[string]*yaml.Node{}
	for _, k := range Keys() {
		parent := root
		leaf := k.Name
		if sec, rest, ok := strings.Cut(k.Name, "."); ok {
			leaf = rest
			if sections[sec] == nil {
				sections[sec] = &yaml.Node{Kind: yaml.MappingNode}
				root.Content = append(root.Content, scalar("!!str", sec), sections[sec])
			}
			parent = sections[sec]
		}
		parent.Content = append(parent.Content, scalar("!!str", leaf), k.node(&c))
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(root); err != nil {
		// Encoding nodes built above cannot fail; say so loudly if it ever does.
		return fmt.Sprintf("# config dump failed: %v\n", err)
	}
	_ = enc.Close()
	return buf.String()
}

func (k Key) node(c *Config) *yaml.Node {
	switch p := k.field(c).(type) {
	case *Secret:
		return scalar("!!str", p.String())
	case *int:
		return scalar("!!int", strconv.Itoa(*p))
	case *time.Duration:
		return scalar("!!str", p.String())
	case *[]string:
		seq := &yaml.Node{Kind: yaml.SequenceNode}
		for _, l := range *p {
			seq.Content = append(seq.Content, scalar("!!str", l))
		}
		if len(*p) == 0 {
			seq.Style = yaml.FlowStyle
		}
		return seq
	case *string:
		return scalar("!!str", *p)
	}
	return scalar("!!null", "")
}

func scalar(tag, v string) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: tag, Value: v}
}
