package main

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestLoadJobsConfig(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		want    jobsConfig
		wantErr []string // variables at fault
	}{
		{"defaults", nil, jobsConfig{Workers: 4, RescueAfter: 5 * time.Minute, ScheduleEvery: 30 * time.Second, Retention: 30 * 24 * time.Hour, AtlassianAPIURL: "https://api.atlassian.com",
			PersonalDataEvery: 7 * 24 * time.Hour, Graph: graphConfig{APIURL: "https://graph.microsoft.com", LoginURL: "https://login.microsoftonline.com"}}, nil},
		{"set", map[string]string{"JOB_WORKERS": "8", "JOB_RESCUE_AFTER": "90s", "JOB_SCHEDULE_EVERY": "1m", "ORG_API_URL": "http://127.0.0.1:9999/",
			"GRAPH_API_URL": "https://graph.microsoft.us/", "GRAPH_LOGIN_URL": "https://login.microsoftonline.us", "UNINSTALL_RETENTION_DAYS": "7",
			"PERSONAL_DATA_REPORT_INTERVAL": "24h"},
			jobsConfig{Workers: 8, RescueAfter: 90 * time.Second, ScheduleEvery: time.Minute, Retention: 7 * 24 * time.Hour, AtlassianAPIURL: "http://127.0.0.1:9999",
				PersonalDataEvery: 24 * time.Hour,
				Graph:             graphConfig{APIURL: "https://graph.microsoft.us", LoginURL: "https://login.microsoftonline.us"}}, nil},
		{"graph URLs must be https", map[string]string{"GRAPH_API_URL": "http://graph.example", "GRAPH_LOGIN_URL": "https://u:hunter2@login.example"},
			jobsConfig{}, []string{"GRAPH_API_URL", "GRAPH_LOGIN_URL"}},
		{"bad values", map[string]string{"JOB_WORKERS": "0", "JOB_RESCUE_AFTER": "1ms", "JOB_SCHEDULE_EVERY": "soon", "ORG_API_URL": "ftp://x",
			"PERSONAL_DATA_REPORT_INTERVAL": "7d"},
			jobsConfig{}, []string{"JOB_WORKERS", "JOB_RESCUE_AFTER", "JOB_SCHEDULE_EVERY", "PERSONAL_DATA_REPORT_INTERVAL", "ORG_API_URL"}},
		{"reporting cycle beyond 30 days", map[string]string{"PERSONAL_DATA_REPORT_INTERVAL": "721h"}, jobsConfig{}, []string{"PERSONAL_DATA_REPORT_INTERVAL"}},
		{"credentials in URL", map[string]string{"ORG_API_URL": "https://user:hunter2@api.example.com"}, jobsConfig{}, []string{"ORG_API_URL"}},
		{"retention out of range", map[string]string{"UNINSTALL_RETENTION_DAYS": "0"}, jobsConfig{}, []string{"UNINSTALL_RETENTION_DAYS"}},
		{"retention not a number", map[string]string{"UNINSTALL_RETENTION_DAYS": "30d"}, jobsConfig{}, []string{"UNINSTALL_RETENTION_DAYS"}},
		{"plain http off the loopback", map[string]string{"ORG_API_URL": "http://api.example.com"}, jobsConfig{}, []string{"ORG_API_URL"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := loadJobsConfig(envFunc(tc.env))
			if tc.wantErr == nil {
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(tc.want, got); diff != "" {
					t.Errorf("config (-want +got):\n%s", diff)
				}
				return
			}
			var errs configErrors
			if !errors.As(err, &errs) {
				t.Fatalf("err = %v, want configErrors", err)
			}
			var vars []string
			for _, e := range errs {
				var ce *configError
				if errors.As(e, &ce) {
					vars = append(vars, ce.Var)
				}
			}
			if diff := cmp.Diff(tc.wantErr, vars); diff != "" {
				t.Errorf("variables at fault (-want +got):\n%s", diff)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Error("error message leaks the URL's password")
			}
		})
	}
}
